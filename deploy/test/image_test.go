package deploytest

import (
	"bufio"
	"debug/elf"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestStaticBinaries: every binary the image copies is a static ELF
// executable (no interpreter, no shared libraries), as FROM scratch needs.
func TestStaticBinaries(t *testing.T) {
	for _, name := range imageBinaries {
		f, err := elf.Open(staticBinary(t, name))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP {
				t.Errorf("%s has a program interpreter: it is dynamically linked (build with CGO_ENABLED=0)", name)
			}
		}
		if libs, err := f.ImportedLibraries(); err != nil || len(libs) > 0 {
			t.Errorf("%s needs shared libraries %v (err %v)", name, libs, err)
		}
		_ = f.Close()
	}
}

// TestDockerfile: the image builds from scratch with nothing pulled and no
// shell: FROM scratch, no RUN, exec-form CMD/ENTRYPOINT, a numeric non-root
// USER, and COPY sources that `make build-static` produces and
// .dockerignore lets into the build context.
func TestDockerfile(t *testing.T) {
	root := repoRoot(t)
	f, err := os.Open(filepath.Join(root, "deploy", "docker", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	var from, user string
	var copied []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		switch instr := strings.ToUpper(fields[0]); instr {
		case "FROM":
			if from != "" {
				t.Errorf("more than one FROM: %q", line)
			}
			from = fields[1]
		case "RUN", "ADD", "ONBUILD", "SHELL":
			t.Errorf("%s needs a shell or a download; the image has neither: %q", instr, line)
		case "CMD", "ENTRYPOINT":
			if !strings.HasPrefix(strings.TrimSpace(strings.TrimPrefix(line, fields[0])), "[") {
				t.Errorf("%s in shell form needs /bin/sh: %q", instr, line)
			}
		case "USER":
			user = fields[1]
		case "COPY":
			for _, a := range fields[1 : len(fields)-1] {
				if !strings.HasPrefix(a, "--") {
					copied = append(copied, a)
				}
			}
		case "ENV", "WORKDIR", "EXPOSE", "LABEL":
		default:
			t.Errorf("unexpected instruction %q", line)
		}
	}
	if from != "scratch" {
		t.Errorf("FROM %q, want scratch (nothing to pull)", from)
	}
	uid, _, _ := strings.Cut(user, ":")
	if n, err := strconv.Atoi(uid); err != nil || n == 0 {
		t.Errorf("USER %q: want a numeric non-root uid (there is no /etc/passwd)", user)
	}
	ignore, err := os.ReadFile(filepath.Join(root, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(strings.Fields(string(ignore)), "!bin/static/") {
		t.Errorf(".dockerignore does not let bin/static/ into the context:\n%s", ignore)
	}
	var bins []string
	for _, src := range copied {
		if !strings.HasPrefix(src, "bin/static/") {
			t.Errorf("COPY %s: only bin/static/ is in the build context", src)
			continue
		}
		st, err := os.Stat(filepath.Join(root, src))
		if err != nil {
			t.Errorf("COPY %s: %v (run `make build-static`)", src, err)
			continue
		}
		if !st.IsDir() {
			bins = append(bins, filepath.Base(src))
		}
	}
	for _, b := range imageBinaries {
		if !slices.Contains(bins, b) {
			t.Errorf("the image does not copy %s (copies %v)", b, bins)
		}
	}
	if st, err := os.Stat(filepath.Join(root, "bin", "static", "rootfs", "data")); err != nil || !st.IsDir() {
		t.Errorf("bin/static/rootfs/data (the volume mount point) is missing: %v", err)
	}
}
