package workspace

import (
	"flag"
	"io"
	"os"
	"testing"
)

func TestParseConcurrency(t *testing.T) {
	got, err := ParseConcurrency(" 1, 16,64", 4096)
	if err != nil || len(got) != 3 || got[0] != 1 || got[1] != 16 || got[2] != 64 {
		t.Fatalf("got %v %v", got, err)
	}
	for _, bad := range []string{"", "0", "1,x", "4097", "-3"} {
		if _, err := ParseConcurrency(bad, 4096); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// A missing file fails Open with the hint; a clean run removes its
// directory, a failed one keeps it.
func TestOpenClose(t *testing.T) {
	if _, err := Open([]string{"/nonexistent/bin"}, "run make build", t.TempDir(), "x-"); err == nil {
		t.Fatal("missing file accepted")
	}
	for _, fail := range []bool{false, true} {
		w, err := Open(nil, "", t.TempDir(), "x-")
		if err != nil {
			t.Fatal(err)
		}
		var runErr error
		if fail {
			runErr = os.ErrInvalid
		}
		if err := w.Close(runErr, false, 0, io.Discard); (err != nil) != fail {
			t.Fatalf("Close: %v", err)
		}
		if _, err := os.Stat(w.Dir); (err == nil) != fail {
			t.Fatalf("failed run %v: dir present %v", fail, err == nil)
		}
	}
}

// Smoke defaults apply only to flags the command line left alone, only
// with --smoke; positional arguments and unknown flags are refused.
func TestParseFlags(t *testing.T) {
	parse := func(args ...string) (int, int, error) {
		fs := flag.NewFlagSet("x", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		a, b := fs.Int("a", 1, ""), fs.Int("b", 1, "")
		smoke := fs.Bool("smoke", false, "")
		err := ParseFlags(fs, args, smoke, map[string]func(){"a": func() { *a = 9 }, "b": func() { *b = 9 }})
		return *a, *b, err
	}
	if a, b, err := parse("-b", "5"); err != nil || a != 1 || b != 5 {
		t.Fatalf("no smoke: %d %d %v", a, b, err)
	}
	if a, b, err := parse("-smoke", "-b", "5"); err != nil || a != 9 || b != 5 {
		t.Fatalf("smoke: %d %d %v", a, b, err)
	}
	if _, _, err := parse("stray"); err == nil {
		t.Fatal("positional argument accepted")
	}
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	smoke := fs.Bool("smoke", true, "")
	if err := ParseFlags(fs, nil, smoke, map[string]func(){"nope": func() {}}); err == nil {
		t.Fatal("smoke default for an unknown flag accepted")
	}
}
