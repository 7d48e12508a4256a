package v3

import (
	"net/http"
	"net/url"
	"sort"
	"strings"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kgate/kgate/internal/httpapi"
)

type aclData struct {
	Kind         string `json:"kind"`
	Metadata     meta   `json:"metadata"`
	ClusterID    string `json:"cluster_id"`
	ResourceType string `json:"resource_type"`
	ResourceName string `json:"resource_name"`
	PatternType  string `json:"pattern_type"`
	Principal    string `json:"principal"`
	Host         string `json:"host"`
	Operation    string `json:"operation"`
	Permission   string `json:"permission"`
}

// acl is one ACL binding, parsed.
type acl struct {
	resType    kmsg.ACLResourceType
	name       string
	pattern    kmsg.ACLResourcePatternType
	principal  string
	host       string
	operation  kmsg.ACLOperation
	permission kmsg.ACLPermissionType
}

// query is the ACL's own search URL (Confluent's self link of an ACL).
func (x acl) query() string {
	v := []string{
		"resource_type=" + url.QueryEscape(x.resType.String()),
		"resource_name=" + url.QueryEscape(x.name),
		"pattern_type=" + url.QueryEscape(x.pattern.String()),
		"principal=" + url.QueryEscape(x.principal),
		"host=" + url.QueryEscape(x.host),
		"operation=" + url.QueryEscape(x.operation.String()),
		"permission=" + url.QueryEscape(x.permission.String()),
	}
	return strings.Join(v, "&")
}

func (l links) aclData(x acl) aclData {
	return aclData{
		Kind:         "KafkaAcl",
		Metadata:     meta{Self: l.url("acls") + "?" + x.query()},
		ClusterID:    l.cid,
		ResourceType: x.resType.String(),
		ResourceName: x.name,
		PatternType:  x.pattern.String(),
		Principal:    x.principal,
		Host:         x.host,
		Operation:    x.operation.String(),
		Permission:   x.permission.String(),
	}
}

// The values the API takes, in Confluent's spelling.
var (
	aclResourceTypes = map[string]kmsg.ACLResourceType{
		"ANY": kmsg.ACLResourceTypeAny, "TOPIC": kmsg.ACLResourceTypeTopic, "GROUP": kmsg.ACLResourceTypeGroup,
		"CLUSTER": kmsg.ACLResourceTypeCluster, "TRANSACTIONAL_ID": kmsg.ACLResourceTypeTransactionalId,
		"DELEGATION_TOKEN": kmsg.ACLResourceTypeDelegationToken,
	}
	aclPatternTypes = map[string]kmsg.ACLResourcePatternType{
		"ANY": kmsg.ACLResourcePatternTypeAny, "MATCH": kmsg.ACLResourcePatternTypeMatch,
		"LITERAL": kmsg.ACLResourcePatternTypeLiteral, "PREFIXED": kmsg.ACLResourcePatternTypePrefixed,
	}
	aclOperations = map[string]kmsg.ACLOperation{
		"ANY": kmsg.ACLOperationAny, "ALL": kmsg.ACLOperationAll, "READ": kmsg.ACLOperationRead,
		"WRITE": kmsg.ACLOperationWrite, "CREATE": kmsg.ACLOperationCreate, "DELETE": kmsg.ACLOperationDelete,
		"ALTER": kmsg.ACLOperationAlter, "DESCRIBE": kmsg.ACLOperationDescribe,
		"CLUSTER_ACTION": kmsg.ACLOperationClusterAction, "DESCRIBE_CONFIGS": kmsg.ACLOperationDescribeConfigs,
		"ALTER_CONFIGS": kmsg.ACLOperationAlterConfigs, "IDEMPOTENT_WRITE": kmsg.ACLOperationIdempotentWrite,
	}
	aclPermissions = map[string]kmsg.ACLPermissionType{
		"ANY": kmsg.ACLPermissionTypeAny, "ALLOW": kmsg.ACLPermissionTypeAllow, "DENY": kmsg.ACLPermissionTypeDeny,
	}
)

func enum[T any](m map[string]T, field, v string, filter bool) (T, error) {
	var zero T
	up := strings.ToUpper(strings.TrimSpace(v))
	t, ok := m[up]
	if !ok || (!filter && (up == "ANY" || up == "MATCH")) {
		names := make([]string, 0, len(m))
		for k := range m {
			if filter || (k != "ANY" && k != "MATCH") {
				names = append(names, k)
			}
		}
		sort.Strings(names)
		return zero, httpapi.ErrBadRequest.Msg("Bad Request: %s must be one of %s, got %q.", field, strings.Join(names, ", "), truncate(v, 64))
	}
	return t, nil
}

// aclFilter parses a search or delete filter from the query. A missing
// enum takes def (ANY for search; delete requires them all).
func aclFilter(q url.Values, required bool) (acl, error) {
	var f acl
	var err error
	get := func(field string) (string, error) {
		if !q.Has(field) {
			if required {
				return "", httpapi.ErrBadRequest.Msg("Bad Request: %s is required.", field)
			}
			return "ANY", nil
		}
		return q.Get(field), nil
	}
	var s string
	if s, err = get("resource_type"); err != nil {
		return f, err
	}
	if f.resType, err = enum(aclResourceTypes, "resource_type", s, true); err != nil {
		return f, err
	}
	if s, err = get("pattern_type"); err != nil {
		return f, err
	}
	if f.pattern, err = enum(aclPatternTypes, "pattern_type", s, true); err != nil {
		return f, err
	}
	if s, err = get("operation"); err != nil {
		return f, err
	}
	if f.operation, err = enum(aclOperations, "operation", s, true); err != nil {
		return f, err
	}
	if s, err = get("permission"); err != nil {
		return f, err
	}
	if f.permission, err = enum(aclPermissions, "permission", s, true); err != nil {
		return f, err
	}
	f.name, f.principal, f.host = q.Get("resource_name"), q.Get("principal"), q.Get("host")
	return f, nil
}

func strOrNil(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func (a *api) searchACLs(w http.ResponseWriter, r *http.Request) error {
	l, err := a.cluster(r)
	if err != nil {
		return err
	}
	f, err := aclFilter(r.URL.Query(), false)
	if err != nil {
		return err
	}
	req := kmsg.NewPtrDescribeACLsRequest()
	req.ResourceType, req.ResourcePatternType = f.resType, f.pattern
	req.ResourceName, req.Principal, req.Host = strOrNil(f.name), strOrNil(f.principal), strOrNil(f.host)
	req.Operation, req.PermissionType = f.operation, f.permission
	resp, err := req.RequestWith(r.Context(), a.kc.Kgo())
	if err != nil {
		return err
	}
	if err := kafkaErr(resp.ErrorCode, resp.ErrorMessage); err != nil {
		return err
	}
	var found []acl
	for _, res := range resp.Resources {
		for _, x := range res.ACLs {
			found = append(found, acl{resType: res.ResourceType, name: res.ResourceName, pattern: res.ResourcePatternType,
				principal: x.Principal, host: x.Host, operation: x.Operation, permission: x.PermissionType})
		}
	}
	sortACLs(found)
	data := make([]aclData, 0, len(found))
	for _, x := range found {
		data = append(data, l.aclData(x))
	}
	self := l.url("acls")
	if r.URL.RawQuery != "" {
		self += "?" + r.URL.RawQuery
	}
	return writeJSON(w, http.StatusOK, newList("KafkaAclList", self, data))
}

func sortACLs(xs []acl) {
	sort.Slice(xs, func(i, j int) bool { return xs[i].query() < xs[j].query() })
}

type createACLRequest struct {
	ResourceType string `json:"resource_type"`
	ResourceName string `json:"resource_name"`
	PatternType  string `json:"pattern_type"`
	Principal    string `json:"principal"`
	Host         string `json:"host"`
	Operation    string `json:"operation"`
	Permission   string `json:"permission"`
}

// parse validates a creation: every field is required, no ANY/MATCH.
func (c createACLRequest) parse(prefix string) (acl, error) {
	var x acl
	var err error
	if x.resType, err = enum(aclResourceTypes, prefix+"resource_type", c.ResourceType, false); err != nil {
		return x, err
	}
	if x.pattern, err = enum(aclPatternTypes, prefix+"pattern_type", c.PatternType, false); err != nil {
		return x, err
	}
	if x.operation, err = enum(aclOperations, prefix+"operation", c.Operation, false); err != nil {
		return x, err
	}
	if x.permission, err = enum(aclPermissions, prefix+"permission", c.Permission, false); err != nil {
		return x, err
	}
	for _, f := range []struct{ name, v string }{{"resource_name", c.ResourceName}, {"principal", c.Principal}, {"host", c.Host}} {
		if f.v == "" {
			return x, httpapi.ErrBadRequest.Msg("Bad Request: %s%s is required.", prefix, f.name)
		}
	}
	if typ, name, ok := strings.Cut(c.Principal, ":"); !ok || typ == "" || name == "" {
		return x, httpapi.ErrBadRequest.Msg("Bad Request: %sprincipal must be <type>:<name> such as User:alice, got %q.", prefix, truncate(c.Principal, 64))
	}
	x.name, x.principal, x.host = c.ResourceName, c.Principal, c.Host
	return x, nil
}

func (a *api) createACLs(r *http.Request, xs []acl) error {
	req := kmsg.NewPtrCreateACLsRequest()
	for _, x := range xs {
		c := kmsg.NewCreateACLsRequestCreation()
		c.ResourceType, c.ResourceName, c.ResourcePatternType = x.resType, x.name, x.pattern
		c.Principal, c.Host, c.Operation, c.PermissionType = x.principal, x.host, x.operation, x.permission
		req.Creations = append(req.Creations, c)
	}
	resp, err := req.RequestWith(r.Context(), a.kc.Kgo())
	if err != nil {
		return err
	}
	for _, res := range resp.Results {
		if err := kafkaErr(res.ErrorCode, res.ErrorMessage); err != nil {
			return err
		}
	}
	for _, x := range xs {
		a.logger.Info("acl created", "acl", x.query(), "principal", httpapi.Principal(r.Context()))
	}
	return nil
}

// createACL answers 201 with the ACL's URL in Location and no body.
func (a *api) createACL(w http.ResponseWriter, r *http.Request) error {
	l, err := a.cluster(r)
	if err != nil {
		return err
	}
	var req createACLRequest
	if err := readBody(r, &req, emptyData); err != nil {
		return err
	}
	x, err := req.parse("")
	if err != nil {
		return err
	}
	if err := a.createACLs(r, []acl{x}); err != nil {
		return err
	}
	w.Header().Set("Location", l.url("acls")+"?"+x.query())
	w.WriteHeader(http.StatusCreated)
	return nil
}

// batchCreateACLs answers 204 (as Confluent's code; its spec says 201).
func (a *api) batchCreateACLs(w http.ResponseWriter, r *http.Request) error {
	if _, err := a.cluster(r); err != nil {
		return err
	}
	var req struct {
		Data []createACLRequest `json:"data"`
	}
	if err := readBody(r, &req, emptyData); err != nil {
		return err
	}
	if len(req.Data) == 0 {
		return httpapi.ErrBadRequest.Msg("Bad Request: \"data\" must list at least one ACL.")
	}
	xs := make([]acl, 0, len(req.Data))
	for i, c := range req.Data {
		x, err := c.parse("data[" + itoa(i) + "].")
		if err != nil {
			return err
		}
		xs = append(xs, x)
	}
	if err := a.createACLs(r, xs); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// deleteACLs deletes what matches the filter (every enum is required, so
// that a bare DELETE cannot wipe all ACLs) and answers them.
func (a *api) deleteACLs(w http.ResponseWriter, r *http.Request) error {
	l, err := a.cluster(r)
	if err != nil {
		return err
	}
	f, err := aclFilter(r.URL.Query(), true)
	if err != nil {
		return err
	}
	req := kmsg.NewPtrDeleteACLsRequest()
	kf := kmsg.NewDeleteACLsRequestFilter()
	kf.ResourceType, kf.ResourcePatternType = f.resType, f.pattern
	kf.ResourceName, kf.Principal, kf.Host = strOrNil(f.name), strOrNil(f.principal), strOrNil(f.host)
	kf.Operation, kf.PermissionType = f.operation, f.permission
	req.Filters = append(req.Filters, kf)
	resp, err := req.RequestWith(r.Context(), a.kc.Kgo())
	if err != nil {
		return err
	}
	var deleted []acl
	for _, res := range resp.Results {
		if err := kafkaErr(res.ErrorCode, res.ErrorMessage); err != nil {
			return err
		}
		for _, m := range res.MatchingACLs {
			if err := kafkaErr(m.ErrorCode, m.ErrorMessage); err != nil {
				return err
			}
			deleted = append(deleted, acl{resType: m.ResourceType, name: m.ResourceName, pattern: m.ResourcePatternType,
				principal: m.Principal, host: m.Host, operation: m.Operation, permission: m.PermissionType})
		}
	}
	sortACLs(deleted)
	data := make([]aclData, 0, len(deleted))
	for _, x := range deleted {
		data = append(data, l.aclData(x))
		a.logger.Info("acl deleted", "acl", x.query(), "principal", httpapi.Principal(r.Context()))
	}
	return writeJSON(w, http.StatusOK, struct {
		Data []aclData `json:"data"`
	}{data})
}
