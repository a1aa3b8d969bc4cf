package deploy

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// imageRef is the tag the test builds; its storage is the test's own.
const imageRef = "localhost/ferry:image-test"

// containers runs buildah and podman against a throwaway store, with the
// settings this kind of machine needs: runc with cgroupfs (crun refuses its
// hybrid cgroups) and no default ulimits (the sandbox may not raise them).
type containers struct {
	t     *testing.T
	store []string
	env   []string
}

func newContainers(t *testing.T) *containers {
	dir := t.TempDir()
	conf := filepath.Join(dir, "containers.conf")
	err := os.WriteFile(conf, []byte("[containers]\ndefault_ulimits = []\n[engine]\ncgroup_manager = \"cgroupfs\"\nruntime = \"runc\"\nevents_logger = \"none\"\n"), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	return &containers{
		t:     t,
		store: []string{"--root", filepath.Join(dir, "root"), "--runroot", filepath.Join(dir, "run"), "--storage-driver", "vfs"},
		env:   append(os.Environ(), "CONTAINERS_CONF="+conf),
	}
}

func (c *containers) run(name string, args ...string) (string, error) {
	c.t.Helper()
	cmd := exec.Command(name, append(slices.Clone(c.store), args...)...)
	if name == "make" {
		cmd = exec.Command(name, args...)
	}
	cmd.Env = c.env
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (c *containers) must(name string, args ...string) string {
	c.t.Helper()
	out, err := c.run(name, args...)
	if err != nil {
		c.t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(out)
}

// TestImage builds the image with `make image` (static binaries, the catalog
// generated from them, buildah) and checks it as an operator's admission
// would: its config (non-root user, entrypoint, OCI labels), its files (no
// shell, nothing but Ferry, its plugins, their catalog and the CA bundle),
// that the catalog's checksums are the shipped binaries', that podman runs
// the demo from it read-only, without capabilities, as a non-root user, and
// that the chart's rendered config passes `ferry check` inside it.
func TestImage(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the container image")
	}
	c := newContainers(t)
	c.must("make", "-C", "..", "image", "IMAGE="+strings.Split(imageRef, ":")[0], "IMAGE_TAG=image-test",
		"BUILDAH_FLAGS="+strings.Join(c.store, " "))

	// The image's config.
	var inspect struct {
		OCIv1 struct {
			Config struct {
				User       string
				Entrypoint []string
				Cmd        []string
				Labels     map[string]string
			} `json:"config"`
		}
	}
	if err := json.Unmarshal([]byte(c.must("buildah", "inspect", "--type", "image", imageRef)), &inspect); err != nil {
		t.Fatal(err)
	}
	cfg := inspect.OCIv1.Config
	if cfg.User != "65532:65532" || !slices.Equal(cfg.Entrypoint, []string{"/usr/bin/ferry"}) {
		t.Errorf("user %q entrypoint %v: want 65532:65532 and /usr/bin/ferry", cfg.User, cfg.Entrypoint)
	}
	head, _ := exec.Command("git", "rev-parse", "HEAD").Output()
	for k, want := range map[string]string{
		"org.opencontainers.image.revision": strings.TrimSpace(string(head)),
		"org.opencontainers.image.source":   "https://github.com/ferryhealth/ferry",
		"org.opencontainers.image.version":  "",
	} {
		if got := cfg.Labels[k]; got == "" || want != "" && got != want {
			t.Errorf("label %s = %q, want %q", k, got, want)
		}
	}

	// Its files.
	ctr := c.must("buildah", "from", "--pull-never", imageRef)
	defer c.run("buildah", "rm", ctr)
	root := c.must("buildah", "mount", ctr)
	var files []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(root, p)
			files = append(files, rel)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(files)
	want := []string{"etc/ssl/certs/ca-certificates.crt", "usr/bin/ferry", "usr/bin/ferry-connector-fhir",
		"usr/bin/ferry-connector-hl7v2", "usr/lib/ferry/plugins.json"}
	if !slices.Equal(files, want) {
		t.Errorf("image files %v, want exactly %v (no shell, nothing else)", files, want)
	}
	checkCatalog(t, root)

	// The demo, served from the image.
	api, admin := freePort(t), freePort(t)
	name := fmt.Sprintf("ferry-image-test-%d", os.Getpid())
	c.must("podman", "run", "-d", "--name", name, "--network", "host", "--read-only", "--cap-drop=ALL",
		"--user", "65532:65532", "--security-opt", "no-new-privileges", "--tmpfs", "/tmp:rw,size=16m,mode=1777",
		imageRef, "demo", "--listen", api, "--admin-listen", admin)
	defer c.run("podman", "rm", "-f", "-t", "2", name)
	if err := waitOK("http://"+admin+"/readyz", 60*time.Second); err != nil {
		logs, _ := c.run("podman", "logs", name)
		t.Fatalf("the demo in the container never got ready: %v\n%s", err, logs)
	}
	req, _ := http.NewRequest("GET", "http://"+api+"/v1/demo/patients?limit=2", nil)
	req.Header.Set("Authorization", "Bearer demo-key-not-secret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var page struct {
		Data []json.RawMessage `json:"data"`
	}
	if resp.StatusCode != 200 || json.Unmarshal(body, &page) != nil || len(page.Data) != 2 {
		t.Errorf("patients from the containerised demo: %d %s", resp.StatusCode, body)
	}

	// The chart's config for a region, with this image's catalog, passes
	// ferry check inside the image.
	catalog := filepath.Join("..", "bin", "image", "plugins.json")
	if dir := os.Getenv("FERRY_BIN"); dir != "" {
		catalog = filepath.Join(dir, "image", "plugins.json")
	}
	objs := render(t, "values-eu.yaml", "--set-file", "pluginCatalog="+catalog)
	cm, _ := find[corev1.ConfigMap](objs)
	cfgPath := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(cfgPath, []byte(cm.Data["config.json"]), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := c.run("podman", "run", "--rm", "--network", "none", "--read-only", "--cap-drop=ALL", "--user", "65532:65532",
		"-e", "FERRY_CURSOR_KEY=0123456789abcdef0123456789abcdef", "-v", cfgPath+":/etc/ferry/config.json:ro",
		imageRef, "check", "--config", "/etc/ferry/config.json")
	if err != nil {
		t.Errorf("ferry check of the chart's eu config in the image: %v\n%s", err, out)
	}
}

// checkCatalog: the catalog names every plugin in the image, and each
// checksum is the binary's.
func checkCatalog(t *testing.T, root string) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(root, "usr/lib/ferry/plugins.json"))
	if err != nil {
		t.Fatal(err)
	}
	var plugins []struct{ Kind, Path, SHA256 string }
	if err := json.Unmarshal(raw, &plugins); err != nil || len(plugins) != 2 {
		t.Fatalf("catalog %s: %v", raw, err)
	}
	for _, p := range plugins {
		b, err := os.ReadFile(filepath.Join(root, p.Path))
		if err != nil {
			t.Errorf("catalog names %s, not in the image: %v", p.Path, err)
			continue
		}
		if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) != p.SHA256 {
			t.Errorf("catalog's checksum of %s is not the binary's", p.Path)
		}
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func waitOK(url string, within time.Duration) error {
	deadline := time.Now().Add(within)
	var last error
	for time.Now().Before(deadline) {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
		last = err
		time.Sleep(250 * time.Millisecond)
	}
	return last
}
