package ctl

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

func asGRPC(err error, target *interface{ GRPCStatus() *status.Status }) bool {
	return errors.As(err, target)
}

// printJSON writes one JSON document: a message, or an array of messages.
func printJSON[T proto.Message](w io.Writer, msgs []T, single bool) error {
	m := protojson.MarshalOptions{Multiline: true, Indent: "  "}
	if single {
		if len(msgs) == 0 {
			_, err := fmt.Fprintln(w, "null")
			return err
		}
		b, err := m.Marshal(msgs[0])
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(w, string(b))
		return err
	}
	parts := make([]string, 0, len(msgs))
	for _, msg := range msgs {
		b, err := m.Marshal(msg)
		if err != nil {
			return err
		}
		parts = append(parts, string(b))
	}
	_, err := fmt.Fprintf(w, "[%s]\n", strings.Join(parts, ",\n"))
	return err
}

// table writes rows under a header with aligned columns.
func table(w io.Writer, header []string, rows [][]string) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

// show prints msgs as JSON, or as a table built by rowsOf.
func show[T proto.Message](e *env, msgs []T, single bool, header []string, rowOf func(T) []string) error {
	if e.output == "json" {
		return printJSON(e.out, msgs, single)
	}
	rows := make([][]string, 0, len(msgs))
	for _, m := range msgs {
		rows = append(rows, rowOf(m))
	}
	return table(e.out, header, rows)
}

func u64(v uint64) string { return fmt.Sprint(v) }
