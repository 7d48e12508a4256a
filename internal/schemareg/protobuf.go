package schemareg

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/bufbuild/protocompile"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
)

// protoFormat parses .proto schemas with bufbuild/protocompile (references
// are imports by their reference name; the well-known types are built
// in; nothing is read from disk) and checks compatibility with the
// differences Confluent's Protobuf provider treats as incompatible:
// PACKAGE_CHANGED, MESSAGE_REMOVED, FIELD_KIND_CHANGED,
// FIELD_SCALAR_KIND_CHANGED (outside the wire-compatible groups
// int32/uint32/int64/uint64/bool, sint32/sint64, fixed32/sfixed32,
// fixed64/sfixed64, string/bytes), FIELD_NAMED_TYPE_CHANGED,
// REQUIRED_FIELD_ADDED, REQUIRED_FIELD_REMOVED, ONEOF_FIELD_REMOVED,
// MULTIPLE_FIELDS_MOVED_TO_ONEOF and FIELD_MOVED_TO_EXISTING_ONEOF. A
// change between singular and repeated is reported too (kgate is stricter
// than Confluent there). Added and removed fields, messages and enum
// values and renamed fields are compatible, as in Confluent.
type protoFormat struct{}

const protoMain = "kgate_schema.proto"

type protoSchema struct {
	file protoreflect.FileDescriptor
	// text is the schema as sent (what normalize=true stores too);
	// canonical identifies it (protoCanonical).
	text, canonical string
}

func (protoFormat) parse(src Source) (Parsed, error) {
	files := map[string]string{protoMain: src.Schema}
	for _, r := range src.Refs {
		if r.Name == protoMain {
			return nil, fmt.Errorf("reference name %q is reserved", r.Name)
		}
		files[r.Name] = r.Schema
	}
	c := protocompile.Compiler{
		// Accessor set: the resolver never reads the file system.
		Resolver: protocompile.WithStandardImports(&protocompile.SourceResolver{
			Accessor: protocompile.SourceAccessorFromMap(files),
		}),
	}
	res, err := c.Compile(context.Background(), protoMain)
	if err != nil {
		// Confluent's registry also takes a schema as the base64 of a
		// serialized FileDescriptorProto, which is what some serializers
		// register (confluent-kafka-python before 2.0).
		if fd, ok := parseDescriptor(c, src.Schema); ok {
			return newProtoSchema(fd, src.Schema), nil
		}
		return nil, err
	}
	return newProtoSchema(res[0], src.Schema), nil
}

func newProtoSchema(fd protoreflect.FileDescriptor, text string) *protoSchema {
	text = strings.TrimSpace(text)
	return &protoSchema{file: fd, text: text, canonical: protoCanonical(fd, text)}
}

// protoCanonical identifies a schema by what it defines rather than how
// it is written, as Confluent compares Protobuf schemas by their parsed
// form: the deterministic serialization of its FileDescriptorProto
// without the file name, source positions and comments. So whitespace,
// comments and the choice between .proto text and a base64 descriptor do
// not make another schema; declaration order still does.
func protoCanonical(fd protoreflect.FileDescriptor, text string) string {
	fdp := protodesc.ToFileDescriptorProto(fd)
	fdp.Name, fdp.SourceCodeInfo = nil, nil
	if fdp.GetSyntax() == "proto2" {
		fdp.Syntax = nil // "proto2" is also what no syntax means
	}
	clearJSONNames(fdp.GetMessageType())
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(fdp)
	if err != nil {
		return text
	}
	return "descriptor:" + base64.StdEncoding.EncodeToString(b)
}

// clearJSONNames drops json_name, which compilers fill in and
// serializers often leave out.
func clearJSONNames(ms []*descriptorpb.DescriptorProto) {
	for _, m := range ms {
		for _, f := range m.GetField() {
			f.JsonName = nil
		}
		clearJSONNames(m.GetNestedType())
	}
}

// parseDescriptor reads text as the base64 of a FileDescriptorProto; its
// imports are the references (by name) or the well-known types, compiled
// by c. ok is false when text is not one.
func parseDescriptor(c protocompile.Compiler, text string) (protoreflect.FileDescriptor, bool) {
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(text))
	if err != nil || len(b) == 0 {
		return nil, false
	}
	fdp := &descriptorpb.FileDescriptorProto{}
	if err := proto.Unmarshal(b, fdp); err != nil || fdp.GetName() == "" {
		return nil, false
	}
	deps := new(protoregistry.Files)
	if len(fdp.GetDependency()) > 0 {
		res, err := c.Compile(context.Background(), fdp.GetDependency()...)
		if err != nil {
			return nil, false
		}
		var register func(fd protoreflect.FileDescriptor) error
		register = func(fd protoreflect.FileDescriptor) error {
			if _, err := deps.FindFileByPath(fd.Path()); err == nil {
				return nil
			}
			imports := fd.Imports()
			for i := range imports.Len() {
				if err := register(imports.Get(i).FileDescriptor); err != nil {
					return err
				}
			}
			return deps.RegisterFile(fd)
		}
		for _, fd := range res {
			if register(fd) != nil {
				return nil, false
			}
		}
	}
	fd, err := protodesc.NewFile(fdp, deps)
	if err != nil {
		return nil, false
	}
	return fd, true
}

func (s *protoSchema) Canonical() string  { return s.canonical }
func (s *protoSchema) Normalized() string { return s.text }

// CanRead compares writer (Confluent's "original") with s (the "update").
func (s *protoSchema) CanRead(writer Parsed) []string {
	w, ok := writer.(*protoSchema)
	if !ok {
		return []string{"the schema types differ"}
	}
	// A package change alone is compatible (Confluent's PACKAGE_CHANGED
	// is, since the data carries no package): messages match by their
	// names within the package.
	c := &protoComparer{compared: map[protoreflect.FullName]bool{}}
	upd := map[protoreflect.FullName]protoreflect.MessageDescriptor{}
	eachMessage(s.file.Messages(), func(m protoreflect.MessageDescriptor) { upd[relName(m)] = m })
	eachMessage(w.file.Messages(), func(om protoreflect.MessageDescriptor) {
		name := relName(om)
		if _, ok := upd[name]; !ok {
			c.fail("MESSAGE_REMOVED: %s", name)
			return
		}
		c.compared[name] = true
	})
	eachMessage(w.file.Messages(), func(om protoreflect.MessageDescriptor) {
		if um, ok := upd[relName(om)]; ok {
			c.compareMessage(relName(om), om, um)
		}
	})
	return c.issues
}

// protoComparer collects the incompatible differences between two
// schemas. compared holds the messages (by name within their package)
// compared already: those of the schemas themselves, and those of
// imports that fields of both name.
type protoComparer struct {
	issues   []string
	compared map[protoreflect.FullName]bool
}

func (c *protoComparer) fail(format string, args ...any) {
	c.issues = append(c.issues, fmt.Sprintf(format, args...))
}

// relName is a message's name within its file's package (nesting kept).
func relName(m protoreflect.MessageDescriptor) protoreflect.FullName {
	return protoreflect.FullName(strings.TrimPrefix(strings.TrimPrefix(string(m.FullName()), string(m.ParentFile().Package())), "."))
}

func eachMessage(ms protoreflect.MessageDescriptors, fn func(protoreflect.MessageDescriptor)) {
	for i := range ms.Len() {
		m := ms.Get(i)
		if m.IsMapEntry() {
			continue
		}
		fn(m)
		eachMessage(m.Messages(), fn)
	}
}

func (c *protoComparer) compareMessage(name protoreflect.FullName, om, um protoreflect.MessageDescriptor) {
	fail := c.fail
	moved := map[string]int{} // update oneof name to fields moved into it
	ofs, ufs := om.Fields(), um.Fields()
	for i := range ofs.Len() {
		of := ofs.Get(i)
		uf := ufs.ByNumber(of.Number())
		if uf == nil {
			if of.Cardinality() == protoreflect.Required {
				fail("REQUIRED_FIELD_REMOVED: %s.%s (%d)", name, of.Name(), of.Number())
			}
			if oo := of.ContainingOneof(); oo != nil && !oo.IsSynthetic() {
				fail("ONEOF_FIELD_REMOVED: %s.%s (%d)", name, of.Name(), of.Number())
			}
			continue
		}
		c.compareField(name, of, uf)
		oo, uo := realOneof(of), realOneof(uf)
		switch {
		case oo != nil && (uo == nil || uo.Name() != oo.Name()):
			fail("ONEOF_FIELD_REMOVED: %s.%s (%d) left oneof %s", name, of.Name(), of.Number(), oo.Name())
		case oo == nil && uo != nil:
			if om.Oneofs().ByName(uo.Name()) != nil {
				fail("FIELD_MOVED_TO_EXISTING_ONEOF: %s.%s (%d) into %s", name, of.Name(), of.Number(), uo.Name())
			}
			moved[string(uo.Name())]++
		}
	}
	for oneof, n := range moved {
		if n > 1 {
			fail("MULTIPLE_FIELDS_MOVED_TO_ONEOF: %s, %d fields into %s", name, n, oneof)
		}
	}
	for i := range ufs.Len() {
		uf := ufs.Get(i)
		if ofs.ByNumber(uf.Number()) == nil && uf.Cardinality() == protoreflect.Required {
			fail("REQUIRED_FIELD_ADDED: %s.%s (%d)", name, uf.Name(), uf.Number())
		}
	}
}

func realOneof(f protoreflect.FieldDescriptor) protoreflect.OneofDescriptor {
	if o := f.ContainingOneof(); o != nil && !o.IsSynthetic() {
		return o
	}
	return nil
}

// kindClass groups the scalar kinds that read each other's encodings.
func kindClass(k protoreflect.Kind) string {
	switch k {
	case protoreflect.Int32Kind, protoreflect.Uint32Kind, protoreflect.Int64Kind, protoreflect.Uint64Kind, protoreflect.BoolKind:
		return "varint"
	case protoreflect.Sint32Kind, protoreflect.Sint64Kind:
		return "zigzag"
	case protoreflect.Fixed32Kind, protoreflect.Sfixed32Kind:
		return "fixed32"
	case protoreflect.Fixed64Kind, protoreflect.Sfixed64Kind:
		return "fixed64"
	case protoreflect.StringKind, protoreflect.BytesKind:
		return "bytes"
	}
	return k.String()
}

// compareField follows Confluent's field rules: enums are numbers of
// the int32/uint32/int64/uint64/bool group; message types match by name
// within their package, and one from an import is compared in turn;
// between singular and repeated only numbers are incompatible (strings,
// bytes and messages share their encoding).
func (c *protoComparer) compareField(name protoreflect.FullName, of, uf protoreflect.FieldDescriptor) {
	where := fmt.Sprintf("%s.%s (%d)", name, of.Name(), of.Number())
	kindOf := func(f protoreflect.FieldDescriptor) string {
		switch {
		case f.IsMap():
			return "map"
		case f.Kind() == protoreflect.MessageKind || f.Kind() == protoreflect.GroupKind:
			return "message"
		}
		return "scalar"
	}
	ok, uk := kindOf(of), kindOf(uf)
	if ok != uk {
		c.fail("FIELD_KIND_CHANGED: %s from %s to %s", where, ok, uk)
		return
	}
	switch ok {
	case "scalar":
		if scalarClass(of) != scalarClass(uf) {
			c.fail("FIELD_SCALAR_KIND_CHANGED: %s from %s to %s", where, of.Kind(), uf.Kind())
		}
		if of.IsList() != uf.IsList() && scalarClass(of) != "bytes" {
			c.fail("FIELD_NUMERIC_LABEL_CHANGED: %s between singular and repeated", where)
		}
	case "message":
		on, un := relName(of.Message()), relName(uf.Message())
		if on != un {
			c.fail("FIELD_NAMED_TYPE_CHANGED: %s from %s to %s", where, of.Message().FullName(), uf.Message().FullName())
			return
		}
		if !c.compared[on] {
			c.compared[on] = true
			before := len(c.issues)
			c.compareMessage(on, of.Message(), uf.Message())
			if len(c.issues) > before {
				c.fail("FIELD_NAMED_TYPE_CHANGED: %s: %s changed incompatibly", where, on)
			}
		}
	case "map":
		c.compareField(name, of.MapKey(), uf.MapKey())
		c.compareField(name, of.MapValue(), uf.MapValue())
	}
}

// scalarClass is kindClass with enums as the varint numbers they are.
func scalarClass(f protoreflect.FieldDescriptor) string {
	if f.Kind() == protoreflect.EnumKind {
		return "varint"
	}
	return kindClass(f.Kind())
}
