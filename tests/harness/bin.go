package harness

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// BinDirEnv names the directory holding the built binaries; the Makefile
// sets it to the repository's bin/.
const BinDirEnv = "ROBUSTMQ_BIN"

// testsModulePath identifies the tests module's go.mod when BinDir walks
// up from the working directory.
const testsModulePath = "module github.com/robustmq/robustmq-go/tests"

// BinDir returns $ROBUSTMQ_BIN, or else the bin/ directory next to the
// tests module (found by walking up from the package being tested, which
// is `go test`'s working directory).
func BinDir(t testing.TB) string {
	t.Helper()
	if d := os.Getenv(BinDirEnv); d != "" {
		abs, err := filepath.Abs(d)
		if err != nil {
			t.Fatalf("harness: %s=%q: %v", BinDirEnv, d, err)
		}
		return abs
	}
	dir, err := os.Getwd()
	if err != nil {
		t.Fatalf("harness: working directory: %v", err)
	}
	for {
		gomod, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.HasPrefix(bytes.TrimSpace(gomod), []byte(testsModulePath)) {
			return filepath.Join(filepath.Dir(dir), "bin")
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatalf("harness: %s is unset and no tests module above the working directory", BinDirEnv)
		}
		dir = parent
	}
}

// Binary returns the path of the named binary in BinDir and fails the test
// when it has not been built: an integration test that silently skipped
// would prove nothing.
func Binary(t testing.TB, name string) string {
	t.Helper()
	path := filepath.Join(BinDir(t), name)
	if st, err := os.Stat(path); err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
		t.Fatalf("harness: binary %s is missing or not executable (run `make build`, or set %s)", path, BinDirEnv)
	}
	return path
}
