package schemareg

import (
	"fmt"

	"github.com/hamba/avro/v2"
)

// The subject name strategies of Confluent's serializers, as the v3
// produce API names them.
const (
	TopicNameStrategy       = "TOPIC_NAME"
	RecordNameStrategy      = "RECORD_NAME"
	TopicRecordNameStrategy = "TOPIC_RECORD_NAME"
)

// recordName is the name RecordNameStrategy derives a subject from, as
// Confluent's serializers do: an Avro named type's full name, a JSON
// Schema's "title", a Protobuf schema's first message's full name.
func recordName(p Parsed) (string, error) {
	switch p := p.(type) {
	case *avroSchema:
		if n, ok := p.schema.(avro.NamedSchema); ok {
			return n.FullName(), nil
		}
		return "", fmt.Errorf("an Avro %s has no name", p.schema.Type())
	case *jsonSchema:
		if m, ok := p.doc.(map[string]any); ok {
			if t, ok := m["title"].(string); ok && t != "" {
				return t, nil
			}
		}
		return "", fmt.Errorf("the JSON schema has no title")
	case *protoSchema:
		if ms := p.file.Messages(); ms.Len() > 0 {
			return string(ms.Get(0).FullName()), nil
		}
		return "", fmt.Errorf("the Protobuf schema has no message")
	}
	return "", fmt.Errorf("the schema has no record name")
}

// strategySubject is the subject a strategy names for a record of topic
// whose schema is p.
func strategySubject(strategy, topic string, p Parsed) (string, error) {
	name, err := recordName(p)
	if err != nil {
		return "", err
	}
	if strategy == TopicRecordNameStrategy {
		return topic + "-" + name, nil
	}
	return name, nil
}
