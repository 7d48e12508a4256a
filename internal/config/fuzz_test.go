package config

import "testing"

// FuzzDecode: any YAML either decodes or errors; never a panic, and a
// decoded tree validates without panicking.
func FuzzDecode(f *testing.F) {
	f.Add("listen: 127.0.0.1:1\nbrokers: [a:1]\nhttp: {read_timeout: 5s}\n")
	f.Add("consumers: {instance_timeout: 300000}\nkafka: {sasl: {mechanism: PLAIN}}\n")
	f.Add("auto_create_topics: yes\n")
	f.Add("- [")
	f.Fuzz(func(t *testing.T, doc string) {
		c := Default()
		if err := Decode("fuzz.yaml", []byte(doc), &c); err != nil {
			return
		}
		_ = c.Validate()
	})
}
