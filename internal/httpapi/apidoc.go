package httpapi

// Doc is what the API document (GET /openapi.json) says about a route
// beyond its Route fields. Schemas are Go values whose types the document
// reflects into JSON Schema: json tags name the fields, `omitempty` makes
// a field optional, []byte is binary, json.RawMessage is any JSON value.
// A Schema may also be a JSONSchema, taken as is.
type Doc struct {
	// Query and Header are the request's query and header parameters.
	Query  []Param
	Header []Param
	// Request is the request body, nil for none.
	Request *Body
	// Responses are the documented answers; error answers in the
	// catalog's shape are added by the document builder.
	Responses []Response
}

// Param is a query or header parameter.
type Param struct {
	Name        string
	Description string
	Required    bool
	// Schema is a Go value of the parameter's type ("" string, int64(0)
	// integer, false boolean) or a JSONSchema.
	Schema any
}

// Body is a request or response body.
type Body struct {
	// ContentType defaults to application/json.
	ContentType string
	Description string
	Schema      any
}

// Response is one documented answer.
type Response struct {
	Status      int
	Description string
	// Body is nil for an empty answer.
	Body   *Body
	Header []Param
}

// JSONSchema is a JSON Schema written out by hand, for shapes no Go type
// expresses (a stream of objects, a union).
type JSONSchema map[string]any
