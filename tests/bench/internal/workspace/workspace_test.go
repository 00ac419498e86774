package workspace

import (
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
