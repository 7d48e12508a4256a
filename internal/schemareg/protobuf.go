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
	file      protoreflect.FileDescriptor
	canonical string
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
			return &protoSchema{file: fd, canonical: strings.TrimSpace(src.Schema)}, nil
		}
		return nil, err
	}
	return &protoSchema{file: res[0], canonical: strings.TrimSpace(src.Schema)}, nil
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
func (s *protoSchema) Normalized() string { return s.canonical }

// CanRead compares writer (Confluent's "original") with s (the "update").
func (s *protoSchema) CanRead(writer Parsed) []string {
	w, ok := writer.(*protoSchema)
	if !ok {
		return []string{"the schema types differ"}
	}
	var issues []string
	fail := func(format string, args ...any) { issues = append(issues, fmt.Sprintf(format, args...)) }
	if w.file.Package() != s.file.Package() {
		fail("PACKAGE_CHANGED: %q to %q", w.file.Package(), s.file.Package())
	}
	upd := map[protoreflect.FullName]protoreflect.MessageDescriptor{}
	eachMessage(s.file.Messages(), func(m protoreflect.MessageDescriptor) { upd[relName(s.file, m)] = m })
	eachMessage(w.file.Messages(), func(om protoreflect.MessageDescriptor) {
		name := relName(w.file, om)
		um, ok := upd[name]
		if !ok {
			fail("MESSAGE_REMOVED: %s", name)
			return
		}
		compareMessage(name, om, um, fail)
	})
	return issues
}

func relName(f protoreflect.FileDescriptor, m protoreflect.MessageDescriptor) protoreflect.FullName {
	return protoreflect.FullName(strings.TrimPrefix(strings.TrimPrefix(string(m.FullName()), string(f.Package())), "."))
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

func compareMessage(name protoreflect.FullName, om, um protoreflect.MessageDescriptor, fail func(string, ...any)) {
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
		compareField(name, of, uf, fail)
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

func compareField(name protoreflect.FullName, of, uf protoreflect.FieldDescriptor, fail func(string, ...any)) {
	where := fmt.Sprintf("%s.%s (%d)", name, of.Name(), of.Number())
	kindOf := func(f protoreflect.FieldDescriptor) string {
		switch {
		case f.IsMap():
			return "map"
		case f.Kind() == protoreflect.MessageKind || f.Kind() == protoreflect.GroupKind:
			return "message"
		case f.Kind() == protoreflect.EnumKind:
			return "enum"
		}
		return "scalar"
	}
	ok, uk := kindOf(of), kindOf(uf)
	if ok != uk {
		fail("FIELD_KIND_CHANGED: %s from %s to %s", where, ok, uk)
		return
	}
	switch ok {
	case "scalar":
		if kindClass(of.Kind()) != kindClass(uf.Kind()) {
			fail("FIELD_SCALAR_KIND_CHANGED: %s from %s to %s", where, of.Kind(), uf.Kind())
		}
	case "message":
		if of.Message().FullName() != uf.Message().FullName() {
			fail("FIELD_NAMED_TYPE_CHANGED: %s from %s to %s", where, of.Message().FullName(), uf.Message().FullName())
		}
	case "enum":
		if of.Enum().FullName() != uf.Enum().FullName() {
			fail("FIELD_NAMED_TYPE_CHANGED: %s from %s to %s", where, of.Enum().FullName(), uf.Enum().FullName())
		}
	case "map":
		compareField(name, of.MapKey(), uf.MapKey(), fail)
		compareField(name, of.MapValue(), uf.MapValue(), fail)
		return
	}
	if of.IsList() != uf.IsList() {
		fail("FIELD_LABEL_CHANGED: %s between singular and repeated", where)
	}
}
