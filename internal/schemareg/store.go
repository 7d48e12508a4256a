package schemareg

import (
	"encoding/json"
	"sort"
)

// The _schemas topic holds Confluent's key and value layout for schemas,
// configs and modes, plus one kgate record kind, ID_CLAIM:
//
//	{"keytype":"SCHEMA","subject":"s","version":1,"magic":1}  {"subject":"s","version":1,"id":1,"schemaType":"AVRO","references":[],"schema":"...","deleted":false}
//	{"keytype":"CONFIG","subject":null,"magic":0}            {"compatibilityLevel":"FULL"}
//	{"keytype":"MODE","subject":"s","magic":0}               {"mode":"READONLY"}
//	{"keytype":"ID_CLAIM","id":7,"fingerprint":"...","magic":1} {"id":7,"fingerprint":"..."}
//
// A null value is a tombstone (a hard delete, a config or mode reset).
//
// Ids are allocated without a leader: a replica that needs a new id
// claims the next one it knows of for the schema's fingerprint, and the
// first claim of an id in log order wins it. Claims are keyed by id and
// fingerprint so that compaction keeps every claimant's record and every
// replica, replaying, picks the same winner; a fingerprint's id is the
// lowest id it won. Ids won later are always higher (a claimant picks
// one past every id it has seen), so a replica that has applied its own
// claim knows its schema's id for good.
//
// Versions are keyed by subject and version as in Confluent, and the
// first record of a (subject, version) in log order wins it too; a replica
// whose record lost writes the winner's record again, so that compaction,
// which keeps a key's last record, keeps the winner's.

const (
	keySchema  = "SCHEMA"
	keyConfig  = "CONFIG"
	keyMode    = "MODE"
	keyIDClaim = "ID_CLAIM"
)

type schemaKey struct {
	KeyType string `json:"keytype"`
	Subject string `json:"subject"`
	Version int    `json:"version"`
	Magic   int    `json:"magic"`
}

type settingKey struct {
	KeyType string  `json:"keytype"`
	Subject *string `json:"subject"`
	Magic   int     `json:"magic"`
}

type claimKey struct {
	KeyType     string `json:"keytype"`
	ID          int    `json:"id"`
	Fingerprint string `json:"fingerprint"`
	Magic       int    `json:"magic"`
}

// anyKey reads every key kind.
type anyKey struct {
	KeyType     string  `json:"keytype"`
	Subject     *string `json:"subject"`
	Version     int     `json:"version"`
	ID          int     `json:"id"`
	Fingerprint string  `json:"fingerprint"`
}

type configValue struct {
	Level Level `json:"compatibilityLevel"`
}

type modeValue struct {
	Mode Mode `json:"mode"`
}

type claimValue struct {
	ID          int    `json:"id"`
	Fingerprint string `json:"fingerprint"`
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only plain structs are marshalled
	}
	return b
}

func schemaKeyOf(subject string, version int) string {
	return string(mustJSON(schemaKey{keySchema, subject, version, 1}))
}

func settingKeyOf(kind, subject string) string {
	k := settingKey{KeyType: kind}
	if subject != "" {
		k.Subject = &subject
	}
	return string(mustJSON(k))
}

func claimKeyOf(id int, fp string) string {
	return string(mustJSON(claimKey{keyIDClaim, id, fp, 1}))
}

// apply folds one record of the topic into the state. Records it cannot
// read are skipped (logged): a replica must not stop on a foreign record.
func (r *Registry) apply(key string, value []byte) {
	var k anyKey
	if err := json.Unmarshal([]byte(key), &k); err != nil {
		r.logger.Warn("skipping unreadable _schemas key", "err", err)
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	subject := ""
	if k.Subject != nil {
		subject = *k.Subject
	}
	switch k.KeyType {
	case keySchema:
		if value == nil {
			r.removeVersion(subject, k.Version)
			return
		}
		var s Schema
		if err := json.Unmarshal(value, &s); err != nil || s.Subject != subject || s.Version != k.Version || s.ID <= 0 {
			r.logger.Warn("skipping unreadable _schemas schema record", "subject", subject, "version", k.Version, "err", err)
			return
		}
		if s.Type == "" {
			s.Type = Avro
		}
		vs := r.subjects[subject]
		if vs == nil {
			vs = map[int]*Schema{}
			r.subjects[subject] = vs
		}
		if old := vs[s.Version]; old != nil && old.ID != s.ID {
			// The first record of a version wins it (see above).
			r.logger.Debug("schema record lost its version", "subject", subject, "version", s.Version, "id", s.ID, "winner", old.ID)
			return
		}
		vs[s.Version] = &s
		if cur := r.ids[s.ID]; cur == nil || (cur.Subject == s.Subject && cur.Version == s.Version) {
			r.ids[s.ID] = &s
		}
		r.maxID = max(r.maxID, s.ID)
	case keyConfig:
		if value == nil {
			delete(r.configs, subject)
			return
		}
		var c configValue
		if err := json.Unmarshal(value, &c); err != nil {
			r.logger.Warn("skipping unreadable _schemas config record", "subject", subject, "err", err)
			return
		}
		if l, ok := ParseLevel(string(c.Level)); ok {
			r.configs[subject] = l
		}
	case keyMode:
		if value == nil {
			delete(r.modes, subject)
			return
		}
		var m modeValue
		if err := json.Unmarshal(value, &m); err != nil {
			r.logger.Warn("skipping unreadable _schemas mode record", "subject", subject, "err", err)
			return
		}
		if md, ok := ParseMode(string(m.Mode)); ok {
			r.modes[subject] = md
		}
	case keyIDClaim:
		if value == nil || k.ID <= 0 || k.Fingerprint == "" {
			return
		}
		if _, taken := r.claims[k.ID]; !taken {
			r.claims[k.ID] = k.Fingerprint
			if cur, ok := r.idOf[k.Fingerprint]; !ok || k.ID < cur {
				r.idOf[k.Fingerprint] = k.ID
			}
		}
		r.maxID = max(r.maxID, k.ID)
	default:
		// DELETE_SUBJECT, CLEAR_SUBJECT, NOOP and later kinds of
		// Confluent's: the SCHEMA records carry what kgate needs.
	}
}

// removeVersion applies a hard delete; r.mu is held.
func (r *Registry) removeVersion(subject string, version int) {
	vs := r.subjects[subject]
	s := vs[version]
	if s == nil {
		return
	}
	delete(vs, version)
	if len(vs) == 0 {
		delete(r.subjects, subject)
	}
	if cur := r.ids[s.ID]; cur == s {
		delete(r.ids, s.ID)
		// Another subject-version may hold the same id.
		for _, vs := range r.subjects {
			for _, o := range vs {
				if o.ID == s.ID {
					r.ids[s.ID] = o
					return
				}
			}
		}
	}
}

// versionsOf returns a subject's versions, ascending, live ones only
// unless deleted; r.mu is held.
func (r *Registry) versionsOf(subject string, deleted bool) []*Schema {
	var out []*Schema
	for _, s := range r.subjects[subject] {
		if deleted || !s.Deleted {
			out = append(out, s)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	return out
}
