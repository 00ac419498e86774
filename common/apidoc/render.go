package apidoc

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"
)

// Process is one server binary: the services its gRPC port serves, where
// the shipped configs put that port, and grpcurl examples against it.
type Process struct {
	Name string
	// Configs are the TOML files (paths relative to the repository root)
	// whose top-level grpc_addr is this process's gRPC port.
	Configs []string
	// Addrs are the addresses read from Configs, one per config, in order
	// (the caller fills them with GRPCAddr).
	Addrs []string
	// Services are the full names of the services on the port.
	Services []string
	// Examples are grpcurl calls to show; Render checks each against the
	// descriptors (the method exists, the request JSON fits its input).
	Examples []Example
}

// Example is one grpcurl call.
type Example struct {
	// Title says what the call does (one line).
	Title string
	// Method is the full method name, "pkg.Service/Method".
	Method string
	// Request is the request as protobuf JSON; empty for "{}".
	Request string
}

// Options say what Render documents.
type Options struct {
	// Files are the .proto files (as named in the descriptor set) to
	// document, in this order. Other files in the set only resolve types.
	Files []string
	// Processes are the servers, in the order to list them.
	Processes []Process
	// Generator names the command that regenerates the document, for its
	// do-not-edit line.
	Generator string
}

// Render writes the Markdown reference of set (which must carry source
// info, for the comments) as opts describe.
func Render(set *descriptorpb.FileDescriptorSet, opts Options) ([]byte, error) {
	files, err := protodesc.NewFiles(set)
	if err != nil {
		return nil, fmt.Errorf("descriptor set: %w", err)
	}
	r := &renderer{files: files, documented: map[string]bool{}}
	var docs []protoreflect.FileDescriptor
	for _, name := range opts.Files {
		fd, err := files.FindFileByPath(name)
		if err != nil {
			return nil, fmt.Errorf("file %s: %w", name, err)
		}
		if fd.SourceLocations().Len() == 0 {
			return nil, fmt.Errorf("file %s has no source info: run protoc with --include_source_info", name)
		}
		docs = append(docs, fd)
		r.documented[name] = true
	}
	if err := r.checkProcesses(opts.Processes); err != nil {
		return nil, err
	}
	r.header(opts)
	r.listen(opts.Processes)
	r.grpcurl(opts.Processes)
	r.contents(docs)
	for _, fd := range docs {
		r.file(fd)
	}
	return r.b.Bytes(), nil
}

// GRPCAddr returns the top-level grpc_addr of a TOML config (the first
// `grpc_addr = "..."` before any [table]).
func GRPCAddr(toml []byte) (string, error) {
	sc := bufio.NewScanner(bytes.NewReader(toml))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "[") {
			break
		}
		key, value, ok := strings.Cut(line, "=")
		if !ok || strings.TrimSpace(key) != "grpc_addr" {
			continue
		}
		value = strings.TrimSpace(value)
		if i := strings.Index(value, "#"); i >= 0 && strings.Count(value[:i], `"`)%2 == 0 {
			value = strings.TrimSpace(value[:i])
		}
		if len(value) < 2 || value[0] != '"' || value[len(value)-1] != '"' {
			return "", fmt.Errorf("grpc_addr %s: not a quoted string", value)
		}
		return value[1 : len(value)-1], nil
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	return "", errors.New("no top-level grpc_addr")
}

type renderer struct {
	b          bytes.Buffer
	files      *protoregistry.Files
	documented map[string]bool // files with a section (types in them get links)
}

func (r *renderer) p(format string, args ...any) { fmt.Fprintf(&r.b, format, args...) }

// checkProcesses fails on a service or example the descriptors do not
// have, so the document never shows a call that cannot work.
func (r *renderer) checkProcesses(ps []Process) error {
	for _, p := range ps {
		if len(p.Addrs) != len(p.Configs) {
			return fmt.Errorf("process %s: %d addresses for %d configs", p.Name, len(p.Addrs), len(p.Configs))
		}
		for _, s := range p.Services {
			d, err := r.files.FindDescriptorByName(protoreflect.FullName(s))
			if err != nil {
				return fmt.Errorf("process %s: service %s: %w", p.Name, s, err)
			}
			if _, ok := d.(protoreflect.ServiceDescriptor); !ok {
				return fmt.Errorf("process %s: %s is not a service", p.Name, s)
			}
		}
		for _, ex := range p.Examples {
			if err := r.checkExample(p, ex); err != nil {
				return fmt.Errorf("process %s: example %s: %w", p.Name, ex.Method, err)
			}
		}
	}
	return nil
}

func (r *renderer) checkExample(p Process, ex Example) error {
	svc, method, ok := strings.Cut(ex.Method, "/")
	if !ok {
		return errors.New(`method must be "pkg.Service/Method"`)
	}
	if !slices.Contains(p.Services, svc) {
		return fmt.Errorf("service %s is not served by %s", svc, p.Name)
	}
	d, err := r.files.FindDescriptorByName(protoreflect.FullName(svc))
	if err != nil {
		return err
	}
	m := d.(protoreflect.ServiceDescriptor).Methods().ByName(protoreflect.Name(method))
	if m == nil {
		return fmt.Errorf("no method %s in %s", method, svc)
	}
	req := ex.Request
	if req == "" {
		req = "{}"
	}
	msg := dynamicpb.NewMessage(m.Input())
	if err := (protojson.UnmarshalOptions{}).Unmarshal([]byte(req), msg); err != nil {
		return fmt.Errorf("request %s does not fit %s: %w", req, m.Input().FullName(), err)
	}
	return nil
}

func (r *renderer) header(opts Options) {
	r.p("# Admin API reference\n\n")
	r.p("<!-- Generated by %s from the .proto files under proto/robustmq; do not edit. `make test` fails when it is stale. -->\n\n", opts.Generator)
	r.p("Every RobustMQ-Go service is driven over gRPC. This reference lists every service, method, message,\n")
	r.p("field and enum of the API with the comments of its `.proto` file, says where each service listens,\n")
	r.p("and shows how to call it with [grpcurl](https://github.com/fullstorydev/grpcurl) through server reflection.\n")
	r.p("`robustctl` (docs/robustctl.md) covers the common operator actions over the same API.\n\n")
}

// anchor is the HTML id of a documented element.
func anchor(name protoreflect.FullName) string { return string(name) }

func (r *renderer) listen(ps []Process) {
	r.p("## Where the services listen\n\n")
	r.p("Each process serves all of its gRPC services on one port, its `grpc_addr`. The shipped configurations\n")
	r.p("(`config/`) put them here:\n\n")
	r.p("| Process | gRPC services | `grpc_addr` in the shipped configs |\n| --- | --- | --- |\n")
	for _, p := range ps {
		var svcs []string
		for _, s := range p.Services {
			svcs = append(svcs, fmt.Sprintf("[`%s`](#%s)", s, anchor(protoreflect.FullName(s))))
		}
		var addrs []string
		for i, a := range p.Addrs {
			addrs = append(addrs, fmt.Sprintf("`%s` (`%s`)", a, p.Configs[i]))
		}
		r.p("| `%s` | %s | %s |\n", p.Name, strings.Join(svcs, "<br>"), strings.Join(addrs, "<br>"))
	}
	r.p("\nEvery gRPC port also serves `grpc.health.v1.Health` (the placement center's leader probes it) and\n")
	r.p("server reflection (`grpc.reflection.v1.ServerReflection` and `v1alpha`), so tools discover the API\n")
	r.p("from the running server without the `.proto` files. The ports speak plaintext gRPC unless TLS is\n")
	r.p("configured. Each process also serves `/metrics` and `/healthz` over HTTP on its `http_addr`.\n\n")
}

func (r *renderer) grpcurl(ps []Process) {
	r.p("## Calling the API with grpcurl\n\n")
	r.p("grpcurl needs no `.proto` files: it asks the server through reflection. Add `-plaintext` (the\n")
	r.p("default configs have no TLS). Request and response bodies are protobuf JSON: field names in\n")
	r.p("lowerCamelCase, 64-bit integers as strings, bytes in base64, enums by name.\n\n")
	r.p("```sh\n")
	r.p("# the services a port serves, a service's methods, a message's fields\n")
	r.p("grpcurl -plaintext 127.0.0.1:1228 list\n")
	r.p("grpcurl -plaintext 127.0.0.1:1228 describe robustmq.placement.v1.PlacementService\n")
	r.p("grpcurl -plaintext 127.0.0.1:1228 describe robustmq.placement.v1.ClusterNode\n")
	r.p("```\n\n")
	r.p("Writes and linearizable reads of the placement center must reach its Raft leader; another member\n")
	r.p("answers `Unavailable` with a `robustmq.common.v1.NotLeader` detail naming the leader (`grpcurl -v`\n")
	r.p("prints details; `robustctl cluster status` shows who leads). Errors carry the typed details of\n")
	r.p("[`robustmq/common/v1/errors.proto`](#robustmq/common/v1/errors.proto).\n\n")
	for _, p := range ps {
		addr := "HOST:PORT"
		if len(p.Addrs) > 0 {
			addr = p.Addrs[0]
		}
		r.p("### %s\n\n```sh\n", p.Name)
		r.p("# what %s serves\ngrpcurl -plaintext %s list\n", p.Name, addr)
		for _, s := range p.Services {
			r.p("grpcurl -plaintext %s describe %s\n", addr, s)
		}
		for _, ex := range p.Examples {
			r.p("\n# %s\n", ex.Title)
			if ex.Request == "" {
				r.p("grpcurl -plaintext %s %s\n", addr, ex.Method)
			} else {
				r.p("grpcurl -plaintext -d '%s' %s %s\n", ex.Request, addr, ex.Method)
			}
		}
		r.p("```\n\n")
	}
}

func (r *renderer) contents(fds []protoreflect.FileDescriptor) {
	r.p("## Reference\n\n")
	for _, fd := range fds {
		r.p("- [`%s`](#%s) (package `%s`):", fd.Path(), fd.Path(), fd.Package())
		var names []string
		svcs := fd.Services()
		for i := range svcs.Len() {
			names = append(names, r.link(svcs.Get(i).FullName(), string(svcs.Get(i).Name())))
		}
		if len(names) == 0 {
			names = append(names, "messages and enums only")
		}
		r.p(" %s\n", strings.Join(names, ", "))
	}
	r.p("\n")
}

func (r *renderer) link(name protoreflect.FullName, text string) string {
	return fmt.Sprintf("[`%s`](#%s)", text, anchor(name))
}

// comment returns d's leading and trailing comments as one text.
func comment(d protoreflect.Descriptor) string {
	loc := d.ParentFile().SourceLocations().ByDescriptor(d)
	var parts []string
	for _, c := range []string{loc.LeadingComments, loc.TrailingComments} {
		if c = strings.TrimRight(c, "\n "); strings.TrimSpace(c) != "" {
			parts = append(parts, c)
		}
	}
	return strings.Join(parts, "\n\n")
}

// fileComment is the comment on the file's package statement.
func fileComment(fd protoreflect.FileDescriptor) string {
	loc := fd.SourceLocations().ByPath(protoreflect.SourcePath{2}) // FileDescriptorProto.package
	return strings.TrimRight(loc.LeadingComments, "\n ")
}

// escape makes comment text safe in Markdown prose: angle brackets would
// be read as HTML tags, pipes end table cells.
func escape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", "|", `\|`).Replace(s)
}

// block renders a comment as Markdown paragraphs; lines indented by two
// or more spaces (after the comment's own space) become a code block.
func block(text string) string {
	if text == "" {
		return ""
	}
	var out []string
	var para, code []string
	flush := func() {
		if len(para) > 0 {
			out = append(out, escape(strings.Join(para, " ")))
			para = nil
		}
		if len(code) > 0 {
			out = append(out, "```\n"+strings.Join(code, "\n")+"\n```")
			code = nil
		}
	}
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimPrefix(line, " ")
		switch {
		case strings.TrimSpace(line) == "":
			flush()
		case strings.HasPrefix(line, "  "):
			if len(para) > 0 {
				flush()
			}
			code = append(code, line)
		default:
			if len(code) > 0 {
				flush()
			}
			para = append(para, strings.TrimSpace(line))
		}
	}
	flush()
	return strings.Join(out, "\n\n") + "\n\n"
}

// cell renders a comment on one table-cell line.
func cell(text string) string {
	fields := strings.Fields(text)
	if len(fields) == 0 {
		return ""
	}
	return escape(strings.Join(fields, " "))
}

func (r *renderer) file(fd protoreflect.FileDescriptor) {
	r.p("<a id=\"%s\"></a>\n\n### `%s`\n\nPackage `%s`.\n\n", fd.Path(), fd.Path(), fd.Package())
	r.p("%s", block(fileComment(fd)))
	svcs := fd.Services()
	for i := range svcs.Len() {
		r.service(svcs.Get(i))
	}
	msgs := fd.Messages()
	for i := range msgs.Len() {
		r.message(msgs.Get(i))
	}
	enums := fd.Enums()
	for i := range enums.Len() {
		r.enum(enums.Get(i))
	}
}

// heading writes an anchored level-4 heading for d.
func (r *renderer) heading(kind string, d protoreflect.Descriptor) {
	name := strings.TrimPrefix(string(d.FullName()), string(d.ParentFile().Package())+".")
	r.p("<a id=\"%s\"></a>\n\n#### %s `%s`\n\n", anchor(d.FullName()), kind, name)
}

func (r *renderer) service(s protoreflect.ServiceDescriptor) {
	r.heading("service", s)
	r.p("%s", block(comment(s)))
	r.p("| Method | Request | Response | Description |\n| --- | --- | --- | --- |\n")
	ms := s.Methods()
	for i := range ms.Len() {
		m := ms.Get(i)
		in, out := r.typeRef(m.Input()), r.typeRef(m.Output())
		if m.IsStreamingClient() {
			in = "stream " + in
		}
		if m.IsStreamingServer() {
			out = "stream " + out
		}
		r.p("| `%s` | %s | %s | %s |\n", m.Name(), in, out, cell(comment(m)))
	}
	r.p("\n")
}

// typeRef names a message or enum, linked when it is documented here.
func (r *renderer) typeRef(d protoreflect.Descriptor) string {
	name := strings.TrimPrefix(string(d.FullName()), string(d.ParentFile().Package())+".")
	if d.ParentFile().Package() != "" && !r.documented[d.ParentFile().Path()] {
		return "`" + string(d.FullName()) + "`"
	}
	return r.link(d.FullName(), name)
}

// fieldType renders a field's type: scalar, message or enum (linked),
// repeated, map or proto3 optional.
func (r *renderer) fieldType(f protoreflect.FieldDescriptor) string {
	if f.IsMap() {
		return fmt.Sprintf("map&lt;%s, %s&gt;", r.baseType(f.MapKey()), r.baseType(f.MapValue()))
	}
	t := r.baseType(f)
	switch {
	case f.Cardinality() == protoreflect.Repeated:
		t = "repeated " + t
	case f.HasOptionalKeyword():
		t = "optional " + t
	}
	return t
}

func (r *renderer) baseType(f protoreflect.FieldDescriptor) string {
	switch f.Kind() {
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return r.typeRef(f.Message())
	case protoreflect.EnumKind:
		return r.typeRef(f.Enum())
	default:
		return "`" + f.Kind().String() + "`"
	}
}

func (r *renderer) message(m protoreflect.MessageDescriptor) {
	if m.IsMapEntry() {
		return
	}
	r.heading("message", m)
	r.p("%s", block(comment(m)))
	fs := m.Fields()
	if fs.Len() == 0 {
		r.p("No fields.\n\n")
	} else {
		r.p("| Field | Number | Type | Description |\n| --- | --- | --- | --- |\n")
		for i := range fs.Len() {
			f := fs.Get(i)
			desc := cell(comment(f))
			if o := f.ContainingOneof(); o != nil && !o.IsSynthetic() {
				desc = strings.TrimSpace(fmt.Sprintf("One of `%s`. %s", o.Name(), desc))
			}
			r.p("| `%s` | %d | %s | %s |\n", f.Name(), f.Number(), r.fieldType(f), desc)
		}
		r.p("\n")
	}
	nested := m.Messages()
	for i := range nested.Len() {
		r.message(nested.Get(i))
	}
	enums := m.Enums()
	for i := range enums.Len() {
		r.enum(enums.Get(i))
	}
}

func (r *renderer) enum(e protoreflect.EnumDescriptor) {
	r.heading("enum", e)
	r.p("%s", block(comment(e)))
	r.p("| Value | Number | Description |\n| --- | --- | --- |\n")
	vs := e.Values()
	for i := range vs.Len() {
		v := vs.Get(i)
		r.p("| `%s` | %d | %s |\n", v.Name(), v.Number(), cell(comment(v)))
	}
	r.p("\n")
}
