package ctl

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// printJSON writes one JSON document: msgs[0] when single, else an array of
// msgs (an empty list prints as []). protojson leaves unpopulated fields
// out; its own indentation varies spacing on purpose (so nobody relies on
// its bytes), so the compact form is indented by encoding/json instead,
// which keeps the output stable for scripts and diffs.
func printJSON[T proto.Message](w io.Writer, msgs []T, single bool) error {
	if single && len(msgs) != 1 {
		return fmt.Errorf("internal: one message expected, got %d", len(msgs))
	}
	parts := make([][]byte, 0, len(msgs))
	for _, msg := range msgs {
		b, err := protojson.Marshal(msg)
		if err != nil {
			return fmt.Errorf("encode %T: %w", msg, err)
		}
		parts = append(parts, b)
	}
	var doc []byte
	if single {
		doc = parts[0]
	} else {
		doc = slices.Concat([]byte("["), bytes.Join(parts, []byte(",")), []byte("]"))
	}
	var out bytes.Buffer
	if err := json.Indent(&out, doc, "", "  "); err != nil {
		return fmt.Errorf("indent JSON: %w", err)
	}
	out.WriteByte('\n')
	_, err := out.WriteTo(w)
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

// show prints msgs as JSON, or as a table with one row per message built
// by rowOf.
func show[T proto.Message](e *env, msgs []T, single bool, header []string, rowOf func(T) []string) error {
	if e.output == outputJSON {
		return printJSON(e.out, msgs, single)
	}
	rows := make([][]string, 0, len(msgs))
	for _, m := range msgs {
		rows = append(rows, rowOf(m))
	}
	return table(e.out, header, rows)
}

// done reports a command that returns nothing worth showing: a line of
// text, or an empty JSON object so JSON output is always one document.
func done(e *env, what string) error {
	var err error
	if e.output == outputTable {
		_, err = fmt.Fprintln(e.out, what)
	} else {
		_, err = fmt.Fprintln(e.out, "{}")
	}
	return err
}

func u64(v uint64) string { return strconv.FormatUint(v, 10) }

func u32(v uint32) string { return strconv.FormatUint(uint64(v), 10) }

// cell renders bytes for a table cell: as is when it is printable text
// without tabs or newlines (which would break the columns), else quoted.
func cell(b []byte) string {
	if utf8.Valid(b) && strings.IndexFunc(string(b), func(r rune) bool { return !unicode.IsPrint(r) }) < 0 {
		return string(b)
	}
	return strconv.Quote(string(b))
}

// ms renders a Unix-millisecond timestamp; zero is "-".
func ms(t int64) string {
	if t == 0 {
		return "-"
	}
	return time.UnixMilli(t).UTC().Format(time.RFC3339)
}

// enumName is an enum value's name without its type prefix, lower case:
// SEGMENT_STATUS_SEALED -> sealed.
func enumName(full, prefix string) string {
	return strings.ToLower(strings.TrimPrefix(full, prefix))
}
