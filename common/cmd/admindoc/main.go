// Command admindoc writes docs/admin-api.md (from a protoc descriptor set
// with source info, see common/apidoc) and docs/robustctl.md (from
// robustctl's command tree, see common/ctl). Wiring only; scripts/admindoc.sh
// runs protoc and this.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/robustmq/robustmq-go/common/apidoc"
	"github.com/robustmq/robustmq-go/common/ctl"
)

func main() {
	descriptors := flag.String("descriptors", "", "descriptor set written by protoc --include_imports --include_source_info (required)")
	root := flag.String("root", ".", "repository root (the config files are read from here)")
	apiOut := flag.String("api-out", "docs/admin-api.md", "where to write the API reference")
	ctlOut := flag.String("ctl-out", "docs/robustctl.md", "where to write the robustctl reference")
	flag.Parse()
	if err := run(*descriptors, *root, *apiOut, *ctlOut); err != nil {
		fmt.Fprintln(os.Stderr, "admindoc:", err)
		os.Exit(1)
	}
}

func run(descriptors, root, apiOut, ctlOut string) error {
	if descriptors == "" {
		return fmt.Errorf("-descriptors is required")
	}
	raw, err := os.ReadFile(descriptors)
	if err != nil {
		return err
	}
	set := &descriptorpb.FileDescriptorSet{}
	if err := proto.Unmarshal(raw, set); err != nil {
		return fmt.Errorf("%s: %w", descriptors, err)
	}
	var all []string
	for _, f := range set.GetFile() {
		all = append(all, f.GetName())
	}
	procs := apidoc.Layout()
	for i := range procs {
		for _, cfg := range procs[i].Configs {
			b, err := os.ReadFile(filepath.Join(root, cfg))
			if err != nil {
				return err
			}
			addr, err := apidoc.GRPCAddr(b)
			if err != nil {
				return fmt.Errorf("%s: %w", cfg, err)
			}
			procs[i].Addrs = append(procs[i].Addrs, addr)
		}
	}
	doc, err := apidoc.Render(set, apidoc.Options{Files: apidoc.DocFiles(all), Processes: procs, Generator: "`make admin-doc` (scripts/admindoc.sh)"})
	if err != nil {
		return err
	}
	if err := os.WriteFile(apiOut, doc, 0o644); err != nil {
		return err
	}
	var ref bytes.Buffer
	if err := ctl.WriteReference(&ref); err != nil {
		return err
	}
	return os.WriteFile(ctlOut, ref.Bytes(), 0o644)
}
