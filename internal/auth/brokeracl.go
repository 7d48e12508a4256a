package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The embedded broker enforces the permissions file as Kafka ACLs, so that
// a raw Kafka client has at most the rights it has over HTTP. kgate owns
// the broker's ACLs and SCRAM users: every start and reload rewrites them
// from the users and permissions files (anything else is removed).
//
// Actions map to Kafka operations as follows (deny entries give the same
// operations as DENY ACLs; Kafka's implied DESCRIBE applies to ALLOW):
//
//	show_topic    DESCRIBE, DESCRIBE_CONFIGS on the topics
//	show_offsets  DESCRIBE on the topics
//	show_urps     DESCRIBE on the topics
//	fetch         READ on the topics
//	produce       WRITE on the topics
//	create_topic  CREATE on the topics
//	delete_topic  DELETE on the topics
//	alter_config  ALTER, ALTER_CONFIGS on the topics
//	consume       READ on the groups
//	show_group    DESCRIBE on the groups
//	admin         ALL on every topic, group, transactional id and the cluster
//
// list_topics and list_groups grant nothing on the Kafka port: a Kafka
// listing shows what the principal may DESCRIBE, which its other grants
// imply, as over HTTP (Policy.Sees). Mapping them to DESCRIBE on every
// topic or group would tell a tenant which of another tenant's topics
// exist. The other actions (list_brokers, show_broker, list_urps,
// reload, revoke, metrics, and the schema registry's list_subjects and
// subject_*) have no Kafka counterpart either. Anonymous callers have no
// Kafka-port access at all: the port requires SASL.

type kafkaOp struct {
	res kmsg.ACLResourceType
	ops []kmsg.ACLOperation
}

var actionOps = map[Action]kafkaOp{
	ShowTopic:   {kmsg.ACLResourceTypeTopic, []kmsg.ACLOperation{kmsg.ACLOperationDescribe, kmsg.ACLOperationDescribeConfigs}},
	ShowOffsets: {kmsg.ACLResourceTypeTopic, []kmsg.ACLOperation{kmsg.ACLOperationDescribe}},
	ShowURPs:    {kmsg.ACLResourceTypeTopic, []kmsg.ACLOperation{kmsg.ACLOperationDescribe}},
	Fetch:       {kmsg.ACLResourceTypeTopic, []kmsg.ACLOperation{kmsg.ACLOperationRead}},
	Produce:     {kmsg.ACLResourceTypeTopic, []kmsg.ACLOperation{kmsg.ACLOperationWrite}},
	CreateTopic: {kmsg.ACLResourceTypeTopic, []kmsg.ACLOperation{kmsg.ACLOperationCreate}},
	DeleteTopic: {kmsg.ACLResourceTypeTopic, []kmsg.ACLOperation{kmsg.ACLOperationDelete}},
	AlterConfig: {kmsg.ACLResourceTypeTopic, []kmsg.ACLOperation{kmsg.ACLOperationAlter, kmsg.ACLOperationAlterConfigs}},
	Consume:     {kmsg.ACLResourceTypeGroup, []kmsg.ACLOperation{kmsg.ACLOperationRead}},
	ShowGroup:   {kmsg.ACLResourceTypeGroup, []kmsg.ACLOperation{kmsg.ACLOperationDescribe}},
}

// topicOps are every topic operation the mapping grants, for the denials
// that guard internal topics.
var topicOps = []kmsg.ACLOperation{
	kmsg.ACLOperationRead, kmsg.ACLOperationWrite, kmsg.ACLOperationCreate, kmsg.ACLOperationDelete,
	kmsg.ACLOperationAlter, kmsg.ACLOperationDescribe, kmsg.ACLOperationDescribeConfigs, kmsg.ACLOperationAlterConfigs,
}

// ACL is one Kafka ACL binding (host is always "*": client addresses are
// checked by the listener guard against the permissions' CIDRs).
type ACL struct {
	Principal string
	Resource  kmsg.ACLResourceType
	Name      string
	Pattern   kmsg.ACLResourcePatternType
	Operation kmsg.ACLOperation
	Allow     bool
}

func (a ACL) String() string {
	perm := "DENY"
	if a.Allow {
		perm = "ALLOW"
	}
	return fmt.Sprintf("%s %s %s %s:%s %s", perm, a.Principal, a.Operation, a.Resource, a.Pattern, a.Name)
}

// KafkaACLs derives the Kafka ACLs of every user in the policy, sorted.
func (p *Policy) KafkaACLs() []ACL { return p.KafkaACLsWith(nil) }

// KafkaACLsWith derives the Kafka ACLs of every user in the policy and of
// extra principals (name to groups: external principals, such as an
// OIDC issuer's, logged in on the Kafka port) that are not users, sorted.
func (p *Policy) KafkaACLsWith(extra map[string][]string) []ACL {
	set := map[ACL]bool{}
	for _, name := range p.users.Names() {
		p.addKafkaACLs(set, name, p.users.Lookup(name).Groups)
	}
	for name, groups := range extra {
		if p.users.Lookup(name) == nil {
			p.addKafkaACLs(set, name, groups)
		}
	}
	return sortedACLs(set)
}

// PrincipalACLs derives the Kafka ACLs of one principal with groups.
func (p *Policy) PrincipalACLs(name string, groups []string) []ACL {
	set := map[ACL]bool{}
	p.addKafkaACLs(set, name, groups)
	return sortedACLs(set)
}

func sortedACLs(set map[ACL]bool) []ACL {
	out := make([]ACL, 0, len(set))
	for a := range set {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}

// addKafkaACLs adds the ACLs of name with groups to set.
func (p *Policy) addKafkaACLs(set map[ACL]bool, name string, groups []string) {
	{
		principal := "User:" + name
		entries := p.perms.applicable(name, groups, true)
		denies := entries
		// anonymous' grants are a floor (see Decide); over Kafka its
		// CIDRs cannot be told apart from the user's, so a floor limited
		// to some addresses is not granted on the Kafka port.
		if f := p.perms.entries[Anonymous]; f != nil && f.cidrs == nil {
			entries = append(append([]*entry(nil), entries...), &entry{allow: f.allow})
		}
		admin := false
		for _, e := range entries {
			if g := e.allow["admin"]; g != nil && g.all {
				admin = true
			}
		}
		for _, e := range denies {
			if g := e.deny["admin"]; g != nil && g.all {
				admin = false
			}
		}
		if admin {
			for _, rt := range []kmsg.ACLResourceType{kmsg.ACLResourceTypeTopic, kmsg.ACLResourceTypeGroup, kmsg.ACLResourceTypeTransactionalId} {
				set[ACL{principal, rt, "*", kmsg.ACLResourcePatternTypeLiteral, kmsg.ACLOperationAll, true}] = true
			}
			set[ACL{principal, kmsg.ACLResourceTypeCluster, "kafka-cluster", kmsg.ACLResourcePatternTypeLiteral, kmsg.ACLOperationAll, true}] = true
		}
		// Internal names: "all" grants must not reach topics or groups
		// that start with "_" (as over HTTP). A grant naming one exactly
		// cannot be kept beside an "all" grant of the same operation on
		// the Kafka port (a DENY wins over every ALLOW there); it still
		// holds over HTTP. Load refuses prefix patterns and templates
		// reaching them, and no user name starts with "_".
		type resOp struct {
			res kmsg.ACLResourceType
			op  kmsg.ACLOperation
		}
		allGrant := map[resOp]bool{}
		for _, e := range entries {
			for action, g := range e.allow {
				m, ok := actionOps[action]
				if !ok {
					continue
				}
				addGrantACLs(set, principal, name, m, g, true)
				if g.all {
					for _, op := range m.ops {
						allGrant[resOp{m.res, op}] = true
					}
				}
			}
			for action, g := range e.deny {
				if m, ok := actionOps[action]; ok {
					addGrantACLs(set, principal, name, m, g, false)
				}
			}
		}
		if !admin {
			for ro := range allGrant {
				set[ACL{principal, ro.res, "_", kmsg.ACLResourcePatternTypePrefixed, ro.op, false}] = true
			}
		}
		if !admin {
			for t := range p.protected {
				for _, op := range topicOps {
					set[ACL{principal, kmsg.ACLResourceTypeTopic, t, kmsg.ACLResourcePatternTypeLiteral, op, false}] = true
				}
			}
		}
	}
}

func addGrantACLs(set map[ACL]bool, principal, user string, m kafkaOp, g *grant, allow bool) {
	add := func(name string, pt kmsg.ACLResourcePatternType) {
		for _, op := range m.ops {
			set[ACL{principal, m.res, name, pt, op, allow}] = true
		}
	}
	if g.all {
		add("*", kmsg.ACLResourcePatternTypeLiteral)
	}
	for _, pt := range g.patterns {
		name := pt.text
		if pt.hasUser {
			name = strings.ReplaceAll(name, "{user}", user)
		}
		if pt.prefix {
			if name == "" {
				add("*", kmsg.ACLResourcePatternTypeLiteral)
				continue
			}
			add(name, kmsg.ACLResourcePatternTypePrefixed)
			continue
		}
		add(name, kmsg.ACLResourcePatternTypeLiteral)
	}
}

// BrokerOptions are the kfake options of a secured embedded broker: SASL
// required, ACLs enforced, and kgate's own superuser with mechanism
// (PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512).
func BrokerOptions(mechanism, superuser, password string) []kfake.Opt {
	return []kfake.Opt{
		kfake.EnableSASL(),
		kfake.EnableACLs(),
		kfake.Superuser(mechanism, superuser, password),
	}
}

// BrokerCredential returns the SCRAM-SHA-512 credential the embedded
// broker knows user by. Clients never use it: the Kafka-port guard
// authenticates them itself and then logs in to the broker with it on
// their behalf (see package kafkaport), so the users file's own SCRAM
// credentials never reach the broker.
type BrokerCredential func(user string) (iterations int32, salt, saltedPassword []byte)

// SyncBroker makes the broker's SCRAM users and ACLs those of the policy:
// every user of the users file gets its SCRAM-SHA-512 broker credential
// from cred, every other SCRAM credential but superuser's is removed, and
// the ACLs become exactly KafkaACLs. It runs as the superuser.
//
// extra are external principals logged in on the Kafka port (name to
// groups), whose ACLs are kept too.
func SyncBroker(ctx context.Context, cl *kgo.Client, pol *Policy, superuser string, cred BrokerCredential, extra map[string][]string, logger *slog.Logger) error {
	if pol.users.Lookup(superuser) != nil {
		return fmt.Errorf("users file: %q is the name kgate uses on the embedded broker (auth.broker.superuser); rename the user", superuser)
	}
	adm := kadm.NewClient(cl)
	if err := syncSCRAM(ctx, adm, pol, superuser, cred); err != nil {
		return fmt.Errorf("embedded broker SCRAM users: %w", err)
	}
	created, deleted, err := syncACLs(ctx, cl, "", pol.KafkaACLsWith(extra))
	if err != nil {
		return fmt.Errorf("embedded broker ACLs: %w", err)
	}
	logger.Info("embedded broker ACLs synced", "acls_created", created, "acls_deleted", deleted)
	return nil
}

// ProvisionBrokerUser gives the broker user's credential from cred: for a
// user the Kafka-port guard authenticated who is not in the users file
// (the next SyncBroker removes it again; connections already logged in
// stay).
func ProvisionBrokerUser(ctx context.Context, cl *kgo.Client, user string, cred BrokerCredential) error {
	iter, salt, sp := cred(user)
	res, err := kadm.NewClient(cl).AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{{User: user, Mechanism: kadm.ScramSha512, Iterations: iter, Salt: salt, SaltedPassword: sp}})
	if err != nil {
		return err
	}
	for _, r := range res {
		if r.Err != nil {
			return fmt.Errorf("user %q: %w", r.User, r.Err)
		}
	}
	return nil
}

func syncSCRAM(ctx context.Context, adm *kadm.Client, pol *Policy, superuser string, cred BrokerCredential) error {
	have, err := adm.DescribeUserSCRAMs(ctx)
	if err != nil {
		return err
	}
	var del []kadm.DeleteSCRAM
	var up []kadm.UpsertSCRAM
	for user, d := range have {
		if user == superuser {
			continue
		}
		known := pol.users.Lookup(user) != nil
		for _, ci := range d.CredInfos {
			if !known || ci.Mechanism != kadm.ScramSha512 {
				del = append(del, kadm.DeleteSCRAM{User: user, Mechanism: ci.Mechanism})
			}
		}
	}
	for _, name := range pol.users.Names() {
		iter, salt, sp := cred(name)
		up = append(up, kadm.UpsertSCRAM{User: name, Mechanism: kadm.ScramSha512, Iterations: iter, Salt: salt, SaltedPassword: sp})
	}
	// One request per round, each naming a user at most once: brokers
	// (kfake included) refuse a request that names a user twice.
	for len(del) > 0 || len(up) > 0 {
		seen := map[string]bool{}
		var d, u []kadm.DeleteSCRAM
		var uu []kadm.UpsertSCRAM
		for _, x := range del {
			if seen[x.User] {
				d = append(d, x)
				continue
			}
			seen[x.User] = true
			u = append(u, x)
		}
		var rest []kadm.UpsertSCRAM
		for _, x := range up {
			if seen[x.User] {
				rest = append(rest, x)
				continue
			}
			seen[x.User] = true
			uu = append(uu, x)
		}
		res, err := adm.AlterUserSCRAMs(ctx, u, uu)
		if err != nil {
			return err
		}
		for _, r := range res {
			if r.Err != nil && !errors.Is(r.Err, kerr.ResourceNotFound) {
				return fmt.Errorf("user %q: %w", r.User, r.Err)
			}
		}
		del, up = d, rest
	}
	return nil
}

// SyncPrincipalACLs makes the broker's ACLs of one principal (an external
// one, at its login) those the policy gives it with groups.
func SyncPrincipalACLs(ctx context.Context, cl *kgo.Client, pol *Policy, name string, groups []string) error {
	if _, _, err := syncACLs(ctx, cl, "User:"+name, pol.PrincipalACLs(name, groups)); err != nil {
		return fmt.Errorf("ACLs of %s on the embedded broker: %w", name, err)
	}
	return nil
}

// syncACLs makes the broker's ACLs want: all of them, or those of
// principal when it is set.
func syncACLs(ctx context.Context, cl *kgo.Client, principal string, want []ACL) (created, deleted int, err error) {
	dreq := kmsg.NewPtrDescribeACLsRequest()
	if principal != "" {
		dreq.Principal = kmsg.StringPtr(principal)
	}
	dreq.ResourceType = kmsg.ACLResourceTypeAny
	dreq.ResourcePatternType = kmsg.ACLResourcePatternTypeAny
	dreq.Operation = kmsg.ACLOperationAny
	dreq.PermissionType = kmsg.ACLPermissionTypeAny
	dresp, err := dreq.RequestWith(ctx, cl)
	if err != nil {
		return 0, 0, err
	}
	if err := kerr.ErrorForCode(dresp.ErrorCode); err != nil {
		return 0, 0, err
	}
	wantSet := map[ACL]bool{}
	for _, a := range want {
		wantSet[a] = true
	}
	haveSet := map[ACL]bool{}
	var dels []kmsg.DeleteACLsRequestFilter
	for _, r := range dresp.Resources {
		for _, a := range r.ACLs {
			acl := ACL{Principal: a.Principal, Resource: r.ResourceType, Name: r.ResourceName, Pattern: r.ResourcePatternType,
				Operation: a.Operation, Allow: a.PermissionType == kmsg.ACLPermissionTypeAllow}
			if a.Host == "*" && wantSet[acl] {
				haveSet[acl] = true
				continue
			}
			f := kmsg.NewDeleteACLsRequestFilter()
			f.ResourceType = r.ResourceType
			f.ResourceName = kmsg.StringPtr(r.ResourceName)
			f.ResourcePatternType = r.ResourcePatternType
			f.Principal = kmsg.StringPtr(a.Principal)
			f.Host = kmsg.StringPtr(a.Host)
			f.Operation = a.Operation
			f.PermissionType = a.PermissionType
			dels = append(dels, f)
		}
	}
	if len(dels) > 0 {
		req := kmsg.NewPtrDeleteACLsRequest()
		req.Filters = dels
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			return 0, 0, err
		}
		for _, r := range resp.Results {
			if err := kerr.ErrorForCode(r.ErrorCode); err != nil {
				return 0, 0, fmt.Errorf("deleting ACLs: %w", err)
			}
			deleted += len(r.MatchingACLs)
		}
	}
	var creations []kmsg.CreateACLsRequestCreation
	for _, a := range want {
		if haveSet[a] {
			continue
		}
		c := kmsg.NewCreateACLsRequestCreation()
		c.ResourceType = a.Resource
		c.ResourceName = a.Name
		c.ResourcePatternType = a.Pattern
		c.Principal = a.Principal
		c.Host = "*"
		c.Operation = a.Operation
		c.PermissionType = kmsg.ACLPermissionTypeDeny
		if a.Allow {
			c.PermissionType = kmsg.ACLPermissionTypeAllow
		}
		creations = append(creations, c)
	}
	for len(creations) > 0 {
		n := min(len(creations), 1000)
		req := kmsg.NewPtrCreateACLsRequest()
		req.Creations = creations[:n]
		creations = creations[n:]
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			return created, deleted, err
		}
		for _, r := range resp.Results {
			if err := kerr.ErrorForCode(r.ErrorCode); err != nil {
				msg := ""
				if r.ErrorMessage != nil {
					msg = ": " + *r.ErrorMessage
				}
				return created, deleted, fmt.Errorf("creating ACLs: %w%s", err, msg)
			}
			created++
		}
	}
	return created, deleted, nil
}
