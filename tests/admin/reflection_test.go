package admin

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	rpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/robustmq/robustmq-go/common/apidoc"
	"github.com/robustmq/robustmq-go/tests/harness"
)

// reflector does what grpcurl does, with no compiled-in message types:
// it learns a server's services and their descriptors through server
// reflection and calls methods with JSON requests.
type reflector struct {
	conn *grpc.ClientConn
	// files are the descriptors the server sent, by file name.
	files map[string]*descriptorpb.FileDescriptorProto
}

func newReflector(t *testing.T, addr string) *reflector {
	t.Helper()
	return &reflector{conn: harness.Dial(t, addr), files: map[string]*descriptorpb.FileDescriptorProto{}}
}

// ask sends one reflection request on a fresh stream and returns the
// answer.
func (r *reflector) ask(ctx context.Context, req *rpb.ServerReflectionRequest) (*rpb.ServerReflectionResponse, error) {
	st, err := rpb.NewServerReflectionClient(r.conn).ServerReflectionInfo(ctx)
	if err != nil {
		return nil, err
	}
	defer func() { _ = st.CloseSend() }()
	if err := st.Send(req); err != nil {
		return nil, err
	}
	resp, err := st.Recv()
	if err != nil {
		return nil, err
	}
	if e := resp.GetErrorResponse(); e != nil {
		return nil, status.Error(codes.Code(e.GetErrorCode()), e.GetErrorMessage())
	}
	return resp, nil
}

// services is grpcurl's "list".
func (r *reflector) services(ctx context.Context) ([]string, error) {
	resp, err := r.ask(ctx, &rpb.ServerReflectionRequest{MessageRequest: &rpb.ServerReflectionRequest_ListServices{}})
	if err != nil {
		return nil, err
	}
	var names []string
	for _, s := range resp.GetListServicesResponse().GetService() {
		names = append(names, s.GetName())
	}
	slices.Sort(names)
	return names, nil
}

// method is grpcurl's "describe SERVICE" narrowed to one method: the
// descriptors of the file holding the service (and its imports), asked
// of the server.
func (r *reflector) method(ctx context.Context, full string) (protoreflect.MethodDescriptor, error) {
	svc, name, _ := strings.Cut(full, "/")
	resp, err := r.ask(ctx, &rpb.ServerReflectionRequest{MessageRequest: &rpb.ServerReflectionRequest_FileContainingSymbol{FileContainingSymbol: svc}})
	if err != nil {
		return nil, err
	}
	for _, raw := range resp.GetFileDescriptorResponse().GetFileDescriptorProto() {
		fd := &descriptorpb.FileDescriptorProto{}
		if err := proto.Unmarshal(raw, fd); err != nil {
			return nil, err
		}
		r.files[fd.GetName()] = fd
	}
	set := &descriptorpb.FileDescriptorSet{}
	for _, fd := range r.files {
		set.File = append(set.File, fd)
	}
	files, err := protodesc.NewFiles(set)
	if err != nil {
		return nil, fmt.Errorf("descriptors from reflection: %w", err)
	}
	d, err := files.FindDescriptorByName(protoreflect.FullName(svc))
	if err != nil {
		return nil, err
	}
	m := d.(protoreflect.ServiceDescriptor).Methods().ByName(protoreflect.Name(name))
	if m == nil {
		return nil, fmt.Errorf("no method %s", full)
	}
	return m, nil
}

// call is grpcurl's "-d JSON METHOD" for a unary method; it returns the
// response as JSON.
func (r *reflector) call(ctx context.Context, full, request string) (string, error) {
	m, err := r.method(ctx, full)
	if err != nil {
		return "", err
	}
	if m.IsStreamingClient() || m.IsStreamingServer() {
		return "", fmt.Errorf("%s streams", full)
	}
	if request == "" {
		request = "{}"
	}
	req, resp := dynamicpb.NewMessage(m.Input()), dynamicpb.NewMessage(m.Output())
	if err := protojson.Unmarshal([]byte(request), req); err != nil {
		return "", fmt.Errorf("request: %w", err)
	}
	if err := r.conn.Invoke(ctx, "/"+full, req, resp); err != nil {
		return "", err
	}
	out, err := protojson.Marshal(resp)
	return string(out), err
}

// checkReflection: every process serves, through reflection, exactly the
// services docs/admin-api.md lists for it (plus health and reflection),
// and every unary example of the document works when called the way
// grpcurl calls it. Objects an example names may not exist here, so
// NotFound and FailedPrecondition count as answers; anything else fails.
func checkReflection(t *testing.T, addrs map[string]string, brokerMQTT string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, p := range apidoc.Layout() {
		addr := addrs[p.Name]
		if addr == "" {
			t.Fatalf("no address for process %s", p.Name)
		}
		r := newReflector(t, addr)
		got, err := r.services(ctx)
		if err != nil {
			t.Fatalf("%s: list services: %v", p.Name, err)
		}
		want := append(slices.Clone(p.Services), "grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection",
			"grpc.reflection.v1alpha.ServerReflection")
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("%s at %s serves %q, the document says %q", p.Name, addr, got, want)
		}
		for _, ex := range p.Examples {
			m, err := r.method(ctx, ex.Method)
			if err != nil {
				t.Errorf("%s: describe %s: %v", p.Name, ex.Method, err)
				continue
			}
			if m.IsStreamingClient() || m.IsStreamingServer() {
				continue
			}
			out, err := r.call(ctx, ex.Method, ex.Request)
			switch status.Code(err) {
			case codes.OK, codes.NotFound, codes.FailedPrecondition:
				t.Logf("%s %s %s -> %s %v", p.Name, ex.Method, ex.Request, out, err)
			default:
				t.Errorf("%s: example %s %s: %v", p.Name, ex.Method, ex.Request, err)
			}
		}
	}
	// One answer checked in full: the brokers, with their listeners.
	out, err := newReflector(t, addrs["placement-center"]).call(ctx, "robustmq.placement.v1.PlacementService/ListNodes", `{"kind": "NODE_KIND_BROKER"}`)
	if err != nil || !strings.Contains(out, `"mqtt":"`+brokerMQTT+`"`) {
		t.Errorf("ListNodes through reflection: %v\n%s", err, out)
	}
}
