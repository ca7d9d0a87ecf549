// Package deploy_test checks the deployment files against the code they
// deploy: the compose file, the Kubernetes manifests, the image recipes and
// the systemd units name only settings, flags, ports and files that the
// binaries really have. They fail when either side changes alone.
package deploy_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/nightjar-sec/nightjar/detector"
	"github.com/nightjar-sec/nightjar/forwarder"
	"github.com/nightjar-sec/nightjar/forwarder/config"
)

// root is the repository root (this file lives in deploy/).
var root = func() string { d, _ := filepath.Abs(".."); return d }()

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

// binaries runs `make build` into a temporary directory, as the image
// recipes expect (COPY bin/<name>), and returns that directory.
func binaries(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "nightjar-deploy-bin-")
		if buildErr != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "make", "-C", root, "build", "BIN="+binDir)
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("make build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binDir
}

// command runs a checking command with a deadline: a hung binary fails its
// test instead of stalling the suite.
func command(name string, args ...string) *exec.Cmd {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	time.AfterFunc(time.Minute, cancel) // released once the deadline passes
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.WaitDelay = time.Second
	return cmd
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// sidekickEnv is every environment variable the sidekick reads: its global
// settings and every output's keys.
func sidekickEnv(t *testing.T) map[string]bool {
	known := map[string]bool{}
	for _, kv := range config.Keys() {
		known[kv[1]] = true
	}
	for _, typ := range forwarder.OutputTypes {
		for _, kv := range config.OutputKeys(typ) {
			known[kv[1]] = true
		}
	}
	// Read by the AWS SDK's standard configuration chain, not by our keys.
	for _, v := range []string{"AWS_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_LAMBDA", "AWS_PROFILE"} {
		known[v] = true
	}
	// Read by the Go runtime; the sidekick sets its own defaults unless
	// they are set (docs/operations.md).
	known["GOMEMLIMIT"], known["GOGC"] = true, true
	if len(known) < 40 {
		t.Fatalf("only %d sidekick variables known: the key listing is broken", len(known))
	}
	return known
}

func loadCompose(t *testing.T, env []string) *types.Project {
	t.Helper()
	return loadComposeIn(t, root, env)
}

// loadComposeIn loads dir/docker-compose.yml as docker compose does: the
// variables in env and dir/.env (when there is one) interpolated, env_file
// files read.
func loadComposeIn(t *testing.T, dir string, env []string) *types.Project {
	t.Helper()
	opts, err := cli.NewProjectOptions([]string{filepath.Join(dir, "docker-compose.yml")},
		cli.WithWorkingDirectory(dir), cli.WithEnv(env), cli.WithEnvFiles(), cli.WithDotEnv, cli.WithInterpolation(true))
	if err != nil {
		t.Fatal(err)
	}
	p, err := opts.LoadProject(context.Background())
	if err != nil {
		t.Fatalf("docker-compose.yml does not load: %v", err)
	}
	return p
}

func TestComposeFile(t *testing.T) {
	p := loadCompose(t, []string{"SLACK_WEBHOOKURL=https://hooks.slack.com/services/T0/B0/x"})
	sk, err := p.GetService("sidekick")
	if err != nil {
		t.Fatal(err)
	}
	nj, err := p.GetService("nightjar")
	if err != nil {
		t.Fatal(err)
	}

	// Images and recipes.
	for _, s := range []types.ServiceConfig{sk, nj} {
		if s.Build == nil {
			t.Fatalf("service %s has no build section", s.Name)
		}
		if _, err := os.Stat(filepath.Join(root, s.Build.Dockerfile)); err != nil && !filepath.IsAbs(s.Build.Dockerfile) {
			t.Errorf("service %s: dockerfile %s: %v", s.Name, s.Build.Dockerfile, err)
		}
	}
	if !strings.HasSuffix(sk.Image, "/nightjar-sidekick:latest") || !strings.HasSuffix(nj.Image, "/nightjar:latest") {
		t.Errorf("images: sidekick %q, nightjar %q", sk.Image, nj.Image)
	}

	// The sidekick: port 2801, a named volume on its queue directory, and
	// only variables the sidekick reads.
	def := config.Default()
	if len(sk.Ports) != 1 || sk.Ports[0].Target != uint32(def.ListenPort) || sk.Ports[0].Published != "2801" {
		t.Errorf("sidekick ports = %+v, want 2801:%d", sk.Ports, def.ListenPort)
	}
	known := sidekickEnv(t)
	var environ []string
	for k, v := range sk.Environment {
		if !known[k] {
			t.Errorf("sidekick environment names %s, which the sidekick does not read", k)
		}
		if v != nil && *v != "" {
			environ = append(environ, k+"="+*v)
		}
	}
	if *sk.Environment["SLACK_WEBHOOKURL"] == "" {
		t.Error("SLACK_WEBHOOKURL is not passed through from the environment")
	}
	cfg, err := config.Load("", environ, forwarder.OutputTypes)
	if err != nil {
		t.Fatalf("the sidekick rejects the compose environment: %v", err)
	}
	if cfg.Queue.Dir != "/var/lib/nightjar-sidekick/queue" {
		t.Errorf("queue dir = %q", cfg.Queue.Dir)
	}
	if len(sk.Volumes) != 1 || sk.Volumes[0].Type != "volume" || !strings.HasPrefix(cfg.Queue.Dir, sk.Volumes[0].Target) {
		t.Errorf("sidekick volumes = %+v: want a named volume holding %s", sk.Volumes, cfg.Queue.Dir)
	}
	if lp := sk.Environment["LISTENPORT"]; lp == nil || *lp != fmt.Sprint(sk.Ports[0].Target) {
		t.Errorf("sidekick LISTENPORT = %v: the stack must set it to the port it maps, %d", lp, sk.Ports[0].Target)
	}
	checkComposePassThrough(t, known)
	if sk.HealthCheck == nil || nj.HealthCheck == nil || sk.Restart == "" || nj.Restart == "" {
		t.Error("both services need a healthcheck and a restart policy")
	}

	// The detector: privileged, host PID, the kernel's BTF, tracefs and
	// cgroups mounted, and a command line the detector accepts.
	if !nj.Privileged || nj.Pid != "host" {
		t.Errorf("nightjar: privileged=%v pid=%q", nj.Privileged, nj.Pid)
	}
	var targets []string
	for _, v := range nj.Volumes {
		targets = append(targets, v.Target)
	}
	for _, want := range []string{"/sys/kernel/btf", "/sys/kernel/tracing", "/sys/fs/cgroup", "/etc/nightjar/rules.d"} {
		if !slices.Contains(targets, want) {
			t.Errorf("nightjar does not mount %s (has %v)", want, targets)
		}
	}
	var overrides []string
	for i := 0; i < len(nj.Command); i++ {
		if nj.Command[i] == "-o" && i+1 < len(nj.Command) {
			overrides = append(overrides, nj.Command[i+1])
			i++
		}
	}
	cfgFile := ""
	for i := 0; i+1 < len(nj.Command); i++ {
		if nj.Command[i] == "-c" {
			cfgFile = imageFile(t, "nightjar.Dockerfile", nj.Command[i+1])
		}
	}
	if cfgFile == "" {
		t.Fatalf("nightjar command %v: no -c FILE", nj.Command)
	}
	dcfg, _, err := detector.LoadConfig(cfgFile, true, overrides)
	if err != nil {
		t.Fatalf("the detector rejects the compose command line: %v", err)
	}
	if nj.HealthCheck != nil {
		checkMetricsProbe(t, "nightjar's compose healthcheck", dcfg, nj.HealthCheck.Test)
	}
	if !dcfg.HTTPOutput.Enabled || dcfg.HTTPOutput.URL != "http://sidekick:2801/" {
		t.Errorf("http_output = %+v, want the sidekick service", dcfg.HTTPOutput)
	}
	if err := validateRules(t, filepath.Join(root, "deploy/rules.d")); err != nil {
		t.Errorf("deploy/rules.d: %v", err)
	}
}

// checkComposePassThrough checks that every variable the sidekick reads
// reaches it from the shell, and every line of .env too (named outputs'
// OUTPUTS_<NAME>_<KEY> included), except the ones the stack sets itself.
func checkComposePassThrough(t *testing.T, known map[string]bool) {
	t.Helper()
	pinned := map[string]string{"QUEUE_DIR": "/var/lib/nightjar-sidekick/queue", "LISTENPORT": "2801"}
	var shell []string
	for v := range known {
		shell = append(shell, v+"=shell-"+v)
	}
	sk, err := loadCompose(t, shell).GetService("sidekick")
	if err != nil {
		t.Fatal(err)
	}
	for v := range known {
		want := "shell-" + v
		if p, ok := pinned[v]; ok {
			want = p
		}
		if got := sk.Environment[v]; got == nil || *got != want {
			t.Errorf("sidekick %s = %v, want %q: every variable the sidekick reads must reach it from the shell", v, got, want)
		}
	}

	dir := t.TempDir()
	b, err := os.ReadFile(filepath.Join(root, "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "docker-compose.yml"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	dotenv := "OUTPUTS_PAGER_TYPE=webhook\nOUTPUTS_PAGER_ADDRESS=http://pager.example/alerts\nGOMEMLIMIT=512MiB\nQUEUE_DIR=/elsewhere\nLISTENPORT=9999\n"
	if err := os.WriteFile(filepath.Join(dir, ".env"), []byte(dotenv), 0o600); err != nil {
		t.Fatal(err)
	}
	sk, err = loadComposeIn(t, dir, nil).GetService("sidekick")
	if err != nil {
		t.Fatal(err)
	}
	var environ []string
	for k, v := range sk.Environment {
		if v != nil && *v != "" {
			environ = append(environ, k+"="+*v)
		}
	}
	for k, want := range map[string]string{"OUTPUTS_PAGER_TYPE": "webhook", "GOMEMLIMIT": "512MiB", "QUEUE_DIR": pinned["QUEUE_DIR"], "LISTENPORT": pinned["LISTENPORT"]} {
		if got := sk.Environment[k]; got == nil || *got != want {
			t.Errorf("with .env, sidekick %s = %v, want %q", k, got, want)
		}
	}
	cfg, err := config.Load("", environ, forwarder.OutputTypes)
	if err != nil {
		t.Fatalf("the sidekick rejects the compose environment with .env: %v", err)
	}
	if !slices.Contains(cfg.OutputNames(), "pager") {
		t.Errorf("the named output in .env is not configured: outputs %v", cfg.OutputNames())
	}
}

// validateRules runs `nightjar -V` on the default rules followed by paths.
func validateRules(t *testing.T, paths ...string) error {
	args := []string{"-V", filepath.Join(root, "rules/builtin/nightjar_rules.yaml")}
	for _, p := range paths {
		args = append(args, "-V", p)
	}
	out, err := command(filepath.Join(binaries(t), "nightjar"), args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("nightjar %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return nil
}

// stage is one build stage of a recipe (FROM ... [AS name]) and its
// instructions, continuation lines joined.
type stage struct {
	name string
	ins  [][]string
}

// dockerfile is the stages of one recipe; the last is the image.
func dockerfile(t *testing.T, name string) []stage {
	f, err := os.Open(filepath.Join(root, "deploy/docker", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []stage
	var cur string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasSuffix(line, "\\") {
			cur += strings.TrimSuffix(line, "\\") + " "
			continue
		}
		ins := strings.Fields(cur + line)
		cur = ""
		if strings.EqualFold(ins[0], "FROM") {
			st := stage{}
			if len(ins) == 4 && strings.EqualFold(ins[2], "AS") {
				st.name = ins[3]
			}
			out = append(out, st)
			continue
		}
		if len(out) == 0 {
			t.Fatalf("%s: %s before FROM", name, ins[0])
		}
		out[len(out)-1].ins = append(out[len(out)-1].ins, ins)
	}
	if len(out) == 0 {
		t.Fatalf("%s: no FROM", name)
	}
	return out
}

// copyArgs splits a COPY instruction into its flags (--from, --chown),
// sources and destination.
func copyArgs(ins []string) (flags map[string]string, srcs []string, dst string) {
	flags = map[string]string{}
	args := ins[1:]
	for len(args) > 0 && strings.HasPrefix(args[0], "--") {
		k, v, _ := strings.Cut(strings.TrimPrefix(args[0], "--"), "=")
		flags[k] = v
		args = args[1:]
	}
	if len(args) < 2 {
		return flags, nil, ""
	}
	return flags, args[:len(args)-1], args[len(args)-1]
}

// imageFile is the repository file that a recipe installs at dst.
func imageFile(t *testing.T, recipe, dst string) string {
	t.Helper()
	stages := dockerfile(t, recipe)
	for _, ins := range stages[len(stages)-1].ins {
		if strings.EqualFold(ins[0], "COPY") {
			flags, srcs, d := copyArgs(ins)
			if _, staged := flags["from"]; !staged && len(srcs) == 1 && filepath.Clean(d) == dst {
				return filepath.Join(root, srcs[0])
			}
		}
	}
	t.Fatalf("%s does not install %s", recipe, dst)
	return ""
}

// execForm is the argument list of an exec-form instruction tail
// (["/usr/bin/x", "y"]).
func execForm(t *testing.T, words []string) []string {
	var v []string
	if err := json.Unmarshal([]byte(strings.Join(words, " ")), &v); err != nil {
		t.Fatalf("not an exec-form list: %v: %v", words, err)
	}
	return v
}

func TestImageRecipes(t *testing.T) {
	bin := binaries(t)
	for _, c := range []struct {
		file, binary string
		nonRoot      bool
	}{{"sidekick.Dockerfile", "nightjar-sidekick", true}, {"nightjar.Dockerfile", "nightjar", false}} {
		t.Run(c.file, func(t *testing.T) {
			stages := dockerfile(t, c.file)
			image := stages[len(stages)-1]
			built := map[string]stage{}
			for _, st := range stages[:len(stages)-1] {
				built[st.name] = st
			}
			var copied, entry bool
			var user string
			var entrypoint, cmd, health []string
			var queueDir string
			copies := map[string]string{} // destination -> source in the repository
			chowned := map[string]int{}   // destination -> instruction index, for COPY --chown=<USER>
			chowns := map[string]string{}
			volumes := map[string]int{}
			for i, ins := range image.ins {
				switch strings.ToUpper(ins[0]) {
				case "COPY":
					flags, srcs, dst := copyArgs(ins)
					if len(srcs) != 1 {
						t.Errorf("%v: want one source and a destination", ins)
						continue
					}
					src := srcs[0]
					if from, ok := flags["from"]; ok {
						// Made in an earlier stage: a RUN there must create it.
						st, ok := built[from]
						if !ok {
							t.Errorf("%v: no stage %q", ins, from)
						}
						made := false
						for _, r := range st.ins {
							line := strings.Join(r, " ")
							made = made || strings.EqualFold(r[0], "RUN") && strings.Contains(line, "mkdir") && strings.Contains(line, src)
						}
						if !made {
							t.Errorf("%v: stage %q has no RUN that makes %s", ins, from, src)
						}
					} else if strings.HasPrefix(src, "bin/") {
						// make build put the binary there.
						if _, err := os.Stat(filepath.Join(bin, strings.TrimPrefix(src, "bin/"))); err != nil {
							t.Errorf("COPY %s: make build did not produce it: %v", src, err)
						}
						copied = copied || strings.HasSuffix(src, "/"+c.binary)
					} else if _, err := os.Stat(filepath.Join(root, src)); err != nil {
						t.Errorf("COPY %s: %v", src, err)
					} else {
						copies[filepath.Clean(dst)] = src
					}
					if ch, ok := flags["chown"]; ok {
						chowned[filepath.Clean(dst)], chowns[filepath.Clean(dst)] = i, ch
					}
				case "USER":
					user = ins[1]
				case "VOLUME":
					for _, v := range execForm(t, ins[1:]) {
						volumes[filepath.Clean(v)] = i
					}
				case "ENV":
					k, v, _ := strings.Cut(ins[1], "=")
					if c.binary == "nightjar-sidekick" && !sidekickEnv(t)[k] {
						t.Errorf("ENV %s is not a sidekick setting", k)
					}
					if k == "QUEUE_DIR" {
						queueDir = v
					}
				case "EXPOSE":
					if ins[1] != fmt.Sprint(config.Default().ListenPort) {
						t.Errorf("EXPOSE %s, the sidekick listens on %d", ins[1], config.Default().ListenPort)
					}
				case "ENTRYPOINT":
					entrypoint = execForm(t, ins[1:])
					entry = len(entrypoint) > 0 && entrypoint[0] == "/usr/bin/"+c.binary
				case "CMD":
					cmd = execForm(t, ins[1:])
				case "HEALTHCHECK":
					for j, w := range ins {
						if w == "CMD" {
							health = execForm(t, ins[j+1:])
						}
					}
				}
			}
			if !copied || !entry {
				t.Errorf("the recipe must COPY bin/%s and run it (copied=%v entrypoint=%v)", c.binary, copied, entry)
			}
			if nonRoot := user != "" && user != "0" && user != "root" && !strings.HasPrefix(user, "0:"); nonRoot != c.nonRoot {
				t.Errorf("non-root user = %v (USER %q), want %v", nonRoot, user, c.nonRoot)
			}
			// A volume must exist in the image, owned by the user that
			// writes to it: Docker makes a missing mount point, or a fresh
			// named volume, root's otherwise. And it must be made before
			// VOLUME, after which changes to the path are discarded.
			for vol, at := range volumes {
				if !c.nonRoot {
					continue
				}
				i, ok := chowned[vol]
				switch {
				case !ok:
					t.Errorf("VOLUME %s: no COPY --chown=%s creates it, so it is root's and USER %s cannot write to it", vol, user, user)
				case chowns[vol] != user:
					t.Errorf("VOLUME %s: created with --chown=%s, but the image runs as USER %s", vol, chowns[vol], user)
				case i > at:
					t.Errorf("VOLUME %s: created after VOLUME, which discards it", vol)
				}
			}
			if queueDir != "" {
				inVolume := false
				for vol := range volumes {
					inVolume = inVolume || queueDir == vol || strings.HasPrefix(queueDir, vol+"/")
				}
				if !inVolume {
					t.Errorf("QUEUE_DIR=%s is not on a VOLUME (%v)", queueDir, volumes)
				}
			}
			if len(health) < 2 || health[0] != "/usr/bin/"+c.binary || health[1] != "healthcheck" {
				t.Errorf("HEALTHCHECK CMD %v: want /usr/bin/%s healthcheck", health, c.binary)
			}
			if c.binary == "nightjar" {
				checkDetectorImage(t, append(entrypoint[1:], cmd...), health[2:], copies)
			}
		})
	}
	// The images' healthchecks run these subcommands.
	for _, b := range []string{"nightjar-sidekick", "nightjar"} {
		out, err := command(filepath.Join(bin, b), "healthcheck", "--url", "http://127.0.0.1:1/").CombinedOutput()
		if err == nil || !strings.Contains(string(out), "unhealthy") {
			t.Errorf("%s healthcheck against a closed port: err=%v out=%s", b, err, out)
		}
	}
}

// dockerignored reports whether the build context leaves out path (slash-
// separated, relative to the context) under .dockerignore's patterns:
// Docker's rules, a pattern matching a directory leaves out what it holds,
// `**` matches any number of directories, the last matching pattern wins
// and `!` brings a path back.
func dockerignored(patterns []string, path string) bool {
	out := false
	for _, p := range patterns {
		neg := strings.HasPrefix(p, "!")
		p = strings.TrimPrefix(filepath.Clean(strings.TrimPrefix(p, "!")), "/")
		var re strings.Builder
		re.WriteString("^")
		for i := 0; i < len(p); i++ {
			switch {
			case strings.HasPrefix(p[i:], "**/"):
				re.WriteString("(.*/)?")
				i += 2
			case strings.HasPrefix(p[i:], "**"):
				re.WriteString(".*")
				i++
			case p[i] == '*':
				re.WriteString("[^/]*")
			case p[i] == '?':
				re.WriteString("[^/]")
			default:
				re.WriteString(regexp.QuoteMeta(p[i : i+1]))
			}
		}
		re.WriteString("(/.*)?$")
		if regexp.MustCompile(re.String()).MatchString(path) {
			out = !neg
		}
	}
	return out
}

// TestDockerignore checks the build context the recipes get: every file
// they copy is in it, and the repository's history, a compose .env with
// its secrets, benchmark results, a local queue and test binaries are not.
func TestDockerignore(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	var patterns []string
	for _, line := range strings.Split(string(b), "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			patterns = append(patterns, line)
		}
	}
	for _, p := range []string{".git/HEAD", ".env", "bench-results/20261129T065524Z/summary.txt", "data/queue/jetstream/x", "api.test", "cmd/nightjar/nightjar.test", "cpu.out"} {
		if !dockerignored(patterns, p) {
			t.Errorf("the build context holds %s: leave it out in .dockerignore", p)
		}
	}
	for _, recipe := range []string{"sidekick.Dockerfile", "nightjar.Dockerfile"} {
		stages := dockerfile(t, recipe)
		for _, ins := range stages[len(stages)-1].ins {
			if !strings.EqualFold(ins[0], "COPY") {
				continue
			}
			flags, srcs, _ := copyArgs(ins)
			if _, staged := flags["from"]; staged {
				continue
			}
			for _, src := range srcs {
				if dockerignored(patterns, src) {
					t.Errorf("%s copies %s, which .dockerignore leaves out of the build context", recipe, src)
				}
			}
		}
	}
}

// checkDetectorImage checks that the detector image's configuration (the
// file its command line names, as the recipe installs it) loads, that its
// rule files are in the image, and that the HEALTHCHECK probes an endpoint
// that configuration serves.
func checkDetectorImage(t *testing.T, args, health []string, copies map[string]string) {
	cfgPath, overrides := "", []string(nil)
	for i := 0; i+1 < len(args); i++ {
		switch args[i] {
		case "-c":
			cfgPath = args[i+1]
		case "-o":
			overrides = append(overrides, args[i+1])
		}
	}
	src, ok := copies[cfgPath]
	if !ok {
		t.Fatalf("the image runs -c %q, which the recipe does not install (installed: %v)", cfgPath, copies)
	}
	dcfg, _, err := detector.LoadConfig(filepath.Join(root, src), true, overrides)
	if err != nil {
		t.Fatalf("the image's configuration %s: %v", src, err)
	}
	for _, rf := range dcfg.RulesFiles {
		if _, ok := copies[rf]; !ok && !strings.HasSuffix(rf, ".local.yaml") && filepath.Base(rf) != "rules.d" {
			t.Errorf("rules_files names %s, which the image does not hold", rf)
		}
	}
	checkMetricsProbe(t, "HEALTHCHECK", dcfg, health)
}

// checkMetricsProbe checks that a `nightjar healthcheck --url URL` command
// line probes the metrics endpoint that the configuration serves.
func checkMetricsProbe(t *testing.T, what string, dcfg *detector.Config, args []string) {
	t.Helper()
	probe := ""
	for i := 0; i+1 < len(args); i++ {
		if args[i] == "--url" {
			probe = args[i+1]
		}
	}
	if probe == "" {
		t.Errorf("%s: `nightjar healthcheck` without --url: name the endpoint the configuration serves", what)
		return
	}
	if !dcfg.Metrics.Enabled {
		t.Errorf("%s probes %s, but metrics.enabled is false: it can never pass", what, probe)
	}
	host, port, err := net.SplitHostPort(dcfg.Metrics.ListenAddress)
	if err != nil {
		t.Fatalf("metrics.listen_address %q: %v", dcfg.Metrics.ListenAddress, err)
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	if want := "http://" + net.JoinHostPort(host, port) + "/metrics"; probe != want {
		t.Errorf("%s probes %s, the detector serves metrics on %s", what, probe, want)
	}
}

// kustomize renders one kustomization directory.
func kustomize(t *testing.T, dir string) [][]byte {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	m, err := k.Run(filesys.MakeFsOnDisk(), filepath.Join(root, "deploy/kubernetes", dir))
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	var docs [][]byte
	for _, r := range m.Resources() {
		b, err := r.AsYAML()
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, b)
	}
	return docs
}

// objects is a rendered tree, decoded strictly into the k8s.io/api types.
type objects struct {
	daemonSets  []appsv1.DaemonSet
	deployments []appsv1.Deployment
	statefuls   []appsv1.StatefulSet
	configMaps  []corev1.ConfigMap
	secrets     []corev1.Secret
	services    []corev1.Service
	pvcs        []corev1.PersistentVolumeClaim
	quotas      []corev1.ResourceQuota
	other       int
}

// decodeStrict decodes every document into its type; unknown fields are
// errors, so a misspelt or misplaced key fails here and not in a cluster.
func decodeStrict(t *testing.T, docs [][]byte) *objects {
	t.Helper()
	o := &objects{}
	for _, d := range docs {
		var meta struct {
			Kind string `json:"kind"`
		}
		if err := yaml.Unmarshal(d, &meta); err != nil {
			t.Fatal(err)
		}
		var err error
		switch meta.Kind {
		case "DaemonSet":
			var v appsv1.DaemonSet
			err = yaml.UnmarshalStrict(d, &v)
			o.daemonSets = append(o.daemonSets, v)
		case "Deployment":
			var v appsv1.Deployment
			err = yaml.UnmarshalStrict(d, &v)
			o.deployments = append(o.deployments, v)
		case "StatefulSet":
			var v appsv1.StatefulSet
			err = yaml.UnmarshalStrict(d, &v)
			o.statefuls = append(o.statefuls, v)
		case "ConfigMap":
			var v corev1.ConfigMap
			err = yaml.UnmarshalStrict(d, &v)
			o.configMaps = append(o.configMaps, v)
		case "Secret":
			var v corev1.Secret
			err = yaml.UnmarshalStrict(d, &v)
			o.secrets = append(o.secrets, v)
		case "Service":
			var v corev1.Service
			err = yaml.UnmarshalStrict(d, &v)
			o.services = append(o.services, v)
		case "PersistentVolumeClaim":
			var v corev1.PersistentVolumeClaim
			err = yaml.UnmarshalStrict(d, &v)
			o.pvcs = append(o.pvcs, v)
		case "ResourceQuota":
			var v corev1.ResourceQuota
			err = yaml.UnmarshalStrict(d, &v)
			o.quotas = append(o.quotas, v)
		case "Namespace":
			var v corev1.Namespace
			err = yaml.UnmarshalStrict(d, &v)
			o.other++
		case "ServiceAccount":
			var v corev1.ServiceAccount
			err = yaml.UnmarshalStrict(d, &v)
			o.other++
		default:
			t.Fatalf("no strict decoder for kind %q: add it to this test", meta.Kind)
		}
		if err != nil {
			t.Errorf("%s does not decode strictly: %v\n%s", meta.Kind, err, d)
		}
	}
	return o
}

func (o *objects) configMap(t *testing.T, prefix string) corev1.ConfigMap {
	for _, c := range o.configMaps {
		if strings.HasPrefix(c.Name, prefix) {
			return c
		}
	}
	t.Fatalf("no ConfigMap %s*", prefix)
	return corev1.ConfigMap{}
}

func writeTemp(t *testing.T, name, data string) string {
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestKubernetesBase(t *testing.T) {
	o := decodeStrict(t, kustomize(t, "base"))
	if len(o.daemonSets) != 1 || len(o.deployments) != 1 || len(o.services) != 1 || len(o.pvcs) != 1 || len(o.secrets) != 1 {
		t.Fatalf("base renders %d daemonsets, %d deployments, %d services, %d pvcs, %d secrets",
			len(o.daemonSets), len(o.deployments), len(o.services), len(o.pvcs), len(o.secrets))
	}

	// The detector: every node, host PID, capabilities rather than privilege.
	ds := o.daemonSets[0].Spec.Template.Spec
	if !ds.HostPID || len(ds.Tolerations) != 1 || ds.Tolerations[0].Operator != corev1.TolerationOpExists {
		t.Errorf("detector pod: hostPID=%v tolerations=%+v", ds.HostPID, ds.Tolerations)
	}
	sc := ds.Containers[0].SecurityContext
	if sc == nil || sc.Privileged == nil || *sc.Privileged || sc.Capabilities == nil ||
		!slices.Contains(sc.Capabilities.Add, "BPF") || !slices.Contains(sc.Capabilities.Drop, "ALL") {
		t.Errorf("detector security context = %+v", sc)
	}
	// A pod of a system-*-critical class is admitted outside kube-system
	// only where a ResourceQuota scoped to that class exists (GKE).
	if pc := ds.PriorityClassName; pc != "" {
		covered := false
		for _, q := range o.quotas {
			if q.Spec.ScopeSelector == nil {
				continue
			}
			for _, e := range q.Spec.ScopeSelector.MatchExpressions {
				covered = covered || e.ScopeName == corev1.ResourceQuotaScopePriorityClass &&
					e.Operator == corev1.ScopeSelectorOpIn && slices.Contains(e.Values, pc)
			}
		}
		if !covered {
			t.Errorf("the detector's priorityClassName is %s, but no ResourceQuota scoped to PriorityClass In [%s] lets its pods in", pc, pc)
		}
	}
	if !strings.HasPrefix(ds.Containers[0].Image, "ghcr.io/nightjar-sec/nightjar:") {
		t.Errorf("detector image %q", ds.Containers[0].Image)
	}

	// Its ConfigMap: a configuration the detector accepts, naming rule
	// files that validate.
	cm := o.configMap(t, "nightjar-config")
	cfgPath := writeTemp(t, "nightjar.yaml", cm.Data["nightjar.yaml"])
	dcfg, _, err := detector.LoadConfig(cfgPath, true, nil)
	if err != nil {
		t.Fatalf("detector ConfigMap nightjar.yaml: %v", err)
	}
	if dcfg.HTTPOutput.URL != "http://nightjar-sidekick.nightjar.svc:2801/" {
		t.Errorf("http_output.url %q does not name the sidekick Service", dcfg.HTTPOutput.URL)
	}
	mount := ""
	for _, m := range ds.Containers[0].VolumeMounts {
		if m.Name == "config" {
			mount = m.MountPath
		}
	}
	local := writeTemp(t, "nightjar_rules.local.yaml", cm.Data["nightjar_rules.local.yaml"])
	for _, rf := range dcfg.RulesFiles {
		if strings.HasPrefix(rf, mount+"/") {
			if _, ok := cm.Data[strings.TrimPrefix(rf, mount+"/")]; !ok {
				t.Errorf("rules_files names %s, which the ConfigMap does not hold", rf)
			}
		}
	}
	if err := validateRules(t, local); err != nil {
		t.Errorf("ConfigMap rules: %v", err)
	}

	// The sidekick: its Service port, its queue on the claim, and a
	// configuration (ConfigMap plus Secret) that it accepts.
	dep := o.deployments[0].Spec.Template.Spec
	skc := dep.Containers[0]
	if o.services[0].Spec.Ports[0].Port != 2801 || skc.Ports[0].ContainerPort != 2801 {
		t.Errorf("sidekick ports: service %d, container %d", o.services[0].Spec.Ports[0].Port, skc.Ports[0].ContainerPort)
	}
	var claim string
	for _, v := range dep.Volumes {
		if v.PersistentVolumeClaim != nil {
			claim = v.PersistentVolumeClaim.ClaimName
		}
	}
	if claim != o.pvcs[0].Name {
		t.Errorf("sidekick claims %q, the PVC is %q", claim, o.pvcs[0].Name)
	}
	if skc.EnvFrom[0].SecretRef.Name != o.secrets[0].Name {
		t.Errorf("sidekick reads secret %q, the Secret is %q", skc.EnvFrom[0].SecretRef.Name, o.secrets[0].Name)
	}
	scm := o.configMap(t, "sidekick-config")
	var environ []string
	known := sidekickEnv(t)
	for k, v := range o.secrets[0].Data {
		if !known[k] {
			t.Errorf("Secret key %s is not a sidekick variable", k)
		}
		environ = append(environ, k+"="+string(v))
	}
	for k, v := range o.secrets[0].StringData {
		environ = append(environ, k+"="+v)
	}
	// An operator fills the Secret in: the sidekick must accept that too.
	environ = append(environ, "SLACK_WEBHOOKURL=https://hooks.slack.com/services/T0/B0/x", "OPSGENIE_APIKEY=k")
	if _, err := config.Load(writeTemp(t, "config.yaml", scm.Data["config.yaml"]), environ, forwarder.OutputTypes); err != nil {
		t.Errorf("sidekick ConfigMap + Secret: %v", err)
	}
}

func TestKubernetesOverlays(t *testing.T) {
	t.Run("external-nats", func(t *testing.T) {
		o := decodeStrict(t, kustomize(t, "overlays/external-nats"))
		if len(o.pvcs) != 0 || len(o.statefuls) != 1 || len(o.deployments) != 1 {
			t.Fatalf("pvcs=%d statefulsets=%d deployments=%d", len(o.pvcs), len(o.statefuls), len(o.deployments))
		}
		d := o.deployments[0].Spec
		if d.Replicas == nil || *d.Replicas < 2 {
			t.Errorf("replicas = %v", d.Replicas)
		}
		for _, v := range d.Template.Spec.Volumes {
			if v.PersistentVolumeClaim != nil {
				t.Errorf("volume %s still claims %s", v.Name, v.PersistentVolumeClaim.ClaimName)
			}
		}
		var environ []string
		for _, e := range d.Template.Spec.Containers[0].Env {
			environ = append(environ, e.Name+"="+e.Value)
		}
		cfg, err := config.Load(writeTemp(t, "config.yaml", o.configMap(t, "sidekick-config").Data["config.yaml"]), environ, forwarder.OutputTypes)
		if err != nil {
			t.Fatalf("sidekick with the overlay's environment: %v", err)
		}
		if cfg.Queue.URL == "" {
			t.Error("the overlay does not point the queue at NATS")
		}
	})
	t.Run("privileged", func(t *testing.T) {
		o := decodeStrict(t, kustomize(t, "overlays/privileged"))
		sc := o.daemonSets[0].Spec.Template.Spec.Containers[0].SecurityContext
		if sc == nil || sc.Privileged == nil || !*sc.Privileged {
			t.Errorf("security context = %+v", sc)
		}
	})
}

// clusterScoped are the kinds that live in no namespace.
var clusterScoped = map[string]bool{"Namespace": true, "ClusterRole": true, "ClusterRoleBinding": true,
	"PriorityClass": true, "CustomResourceDefinition": true, "PersistentVolume": true, "StorageClass": true}

// serviceDNS matches the in-cluster names of Services and of the pods of a
// StatefulSet's governing Service: [pod.]service.namespace.svc.
var serviceDNS = regexp.MustCompile(`\b(?:[a-z0-9-]+\.)?([a-z0-9-]+)\.([a-z0-9-]+)\.svc\b`)

// TestKubernetesNamespaces renders the base and every overlay and checks
// that every namespaced object is in the nightjar namespace, and that every
// in-cluster name (service.namespace.svc) in them names a Service that the
// same tree renders in that namespace.
func TestKubernetesNamespaces(t *testing.T) {
	dirs := []string{"base"}
	entries, err := os.ReadDir(filepath.Join(root, "deploy/kubernetes/overlays"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() {
			dirs = append(dirs, "overlays/"+e.Name())
		}
	}
	for _, dir := range dirs {
		t.Run(dir, func(t *testing.T) {
			docs := kustomize(t, dir)
			services := map[string]bool{} // name.namespace
			for _, d := range docs {
				var meta struct {
					Kind     string `json:"kind"`
					Metadata struct {
						Name, Namespace string
					} `json:"metadata"`
				}
				if err := yaml.Unmarshal(d, &meta); err != nil {
					t.Fatal(err)
				}
				if clusterScoped[meta.Kind] {
					if meta.Metadata.Namespace != "" {
						t.Errorf("%s %s: cluster-scoped, but has namespace %q", meta.Kind, meta.Metadata.Name, meta.Metadata.Namespace)
					}
					continue
				}
				if meta.Metadata.Namespace != "nightjar" {
					t.Errorf("%s %s: namespace %q, want nightjar", meta.Kind, meta.Metadata.Name, meta.Metadata.Namespace)
				}
				if meta.Kind == "Service" {
					services[meta.Metadata.Name+"."+meta.Metadata.Namespace] = true
				}
			}
			for _, d := range docs {
				for _, m := range serviceDNS.FindAllStringSubmatch(string(d), -1) {
					if !services[m[1]+"."+m[2]] {
						t.Errorf("%s names Service %s in namespace %s, which %s does not render (Services: %v)", m[0], m[1], m[2], dir, services)
					}
				}
			}
		})
	}
}

// unit is what the tests read from a unit file's settings.
type unit struct {
	exec        map[string][]string // ExecStart, ExecStartPre: the words, before substitution
	env         map[string]string   // Environment=
	creds       map[string]string   // LoadCredential=ID:PATH
	dynamicUser bool
}

func readUnit(t *testing.T, name string) unit {
	b, err := os.ReadFile(filepath.Join(root, "deploy/systemd", name))
	if err != nil {
		t.Fatal(err)
	}
	u := unit{exec: map[string][]string{}, env: map[string]string{}, creds: map[string]string{}}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, "=")
		if !ok || strings.HasPrefix(k, "#") {
			continue
		}
		switch {
		case strings.HasPrefix(k, "Exec"):
			u.exec[k] = unitWords(v)
		case k == "Environment":
			for _, w := range unitWords(v) {
				ek, ev, _ := strings.Cut(w, "=")
				u.env[ek] = ev
			}
		case k == "LoadCredential":
			id, path, _ := strings.Cut(v, ":")
			u.creds[id] = path
		case k == "DynamicUser":
			u.dynamicUser = v == "yes" || v == "true"
		}
	}
	return u
}

// unitWords splits a setting's value into words as systemd does:
// whitespace separates them, quotes group them.
func unitWords(s string) []string {
	var words []string
	var cur strings.Builder
	in, quote := false, byte(0)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0 && c == quote:
			quote = 0
		case quote == 0 && (c == '"' || c == '\''):
			quote, in = c, true
		case quote == 0 && (c == ' ' || c == '\t'):
			if in {
				words = append(words, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteByte(c)
			in = true
		}
	}
	if in {
		words = append(words, cur.String())
	}
	return words
}

var unitVar = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// substitute applies systemd's substitution to a command line: a word
// that is exactly $VAR becomes the variable's value split into words,
// ${VAR} becomes its value within the word, and %d is the credentials
// directory ($CREDENTIALS_DIRECTORY).
func substitute(words []string, env map[string]string) []string {
	var out []string
	for _, w := range words {
		if strings.HasPrefix(w, "$") && !strings.HasPrefix(w, "${") {
			out = append(out, strings.Fields(env[w[1:]])...)
			continue
		}
		w = unitVar.ReplaceAllStringFunc(w, func(m string) string { return env[m[2:len(m)-1]] })
		out = append(out, strings.ReplaceAll(w, "%d", env["CREDENTIALS_DIRECTORY"]))
	}
	return out
}

// TestSystemdUnits runs each unit's check before start-up (its ExecStartPre,
// or its ExecStart with --check when it has none) as systemd would run it: the installed paths pointed at the
// repository's files, its Environment= set, its LoadCredential= files copied
// into a credentials directory that only the service's user can read, and,
// for DynamicUser=yes, as an unprivileged user (when the test runs as root).
// It also checks that the detector sends its alerts to the sidekick on the
// same host, and has systemd-analyze verify both units where it exists.
func TestSystemdUnits(t *testing.T) {
	bin := binaries(t)
	// The sidekick's configuration as the unit's comment installs it:
	// root's, mode 0600 (it may hold webhook URLs and API keys).
	sidekickCfg := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(sidekickCfg, []byte("listenport: 2801\nwebhook:\n  address: http://127.0.0.1:9/\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	repl := strings.NewReplacer(
		"/usr/local/bin/", bin+"/",
		"/etc/nightjar-sidekick/config.yaml", sidekickCfg,
		"/etc/nightjar/nightjar.yaml", filepath.Join(root, "detector/nightjar.yaml"),
		"/etc/nightjar/nightjar_rules.yaml", filepath.Join(root, "rules/builtin/nightjar_rules.yaml"),
		"/etc/nightjar/nightjar_rules.local.yaml", filepath.Join(root, "rules/builtin/nightjar_rules.local.yaml"),
	)
	asRoot := os.Geteuid() == 0
	if asRoot {
		// An unprivileged user must be able to run the built binaries.
		if err := os.Chmod(bin, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	commands := map[string]map[string][]string{} // unit -> Exec* -> words after substitution
	for _, name := range []string{"nightjar.service", "nightjar-sidekick.service"} {
		u := readUnit(t, name)
		if len(u.exec["ExecStart"]) == 0 {
			t.Fatalf("%s: no ExecStart", name)
		}
		// Before systemd 254 a DynamicUser= unit's credentials open only in
		// the first process it starts (systemd issues 24291, 27275): with an
		// ExecStartPre=, ExecStart= could not read them.
		if u.dynamicUser && len(u.creds) > 0 && len(u.exec["ExecStartPre"]) > 0 {
			t.Errorf("%s: DynamicUser= with LoadCredential= and an ExecStartPre=: ExecStart= cannot open the credentials before systemd 254", name)
		}
		if filepath.Base(u.exec["ExecStart"][0])+".service" != name {
			t.Errorf("%s starts %s", name, u.exec["ExecStart"][0])
		}
		uid, gid := os.Getuid(), os.Getgid()
		if u.dynamicUser && asRoot {
			uid, gid = 65534, 65534 // a user of its own, as DynamicUser=yes makes
		}
		env := map[string]string{}
		for k, v := range u.env {
			env[k] = v
		}
		if len(u.creds) > 0 {
			// systemd copies each credential into a directory that only
			// the service's user can read.
			dir, err := os.MkdirTemp("", "nightjar-credentials-")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.RemoveAll(dir) })
			for id, path := range u.creds {
				data, err := os.ReadFile(repl.Replace(path))
				if err != nil {
					t.Fatalf("%s: LoadCredential=%s:%s: %v", name, id, path, err)
				}
				if err := os.WriteFile(filepath.Join(dir, id), data, 0o400); err != nil {
					t.Fatal(err)
				}
				if err := os.Chown(filepath.Join(dir, id), uid, gid); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.Chmod(dir, 0o500); err != nil {
				t.Fatal(err)
			}
			if err := os.Chown(dir, uid, gid); err != nil {
				t.Fatal(err)
			}
			env["CREDENTIALS_DIRECTORY"] = dir
		}
		commands[name] = map[string][]string{}
		for k, words := range u.exec {
			args := substitute(words, env)
			for i := range args {
				args[i] = repl.Replace(args[i])
			}
			commands[name][k] = args
		}
		// What the unit checks before it starts; without an ExecStartPre=,
		// the configuration ExecStart= runs with, checked (--check).
		args := commands[name]["ExecStartPre"]
		if len(args) == 0 {
			args = append(slices.Clone(commands[name]["ExecStart"]), "--check")
		}
		cmd := command(args[0], args[1:]...)
		cmd.Env = []string{"PATH=/usr/bin:/bin"}
		for k, v := range env {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
		if uid != os.Getuid() {
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
		}
		var buf bytes.Buffer
		cmd.Stdout, cmd.Stderr = &buf, &buf
		if err := cmd.Run(); err != nil {
			t.Errorf("%s ExecStartPre %v (uid %d): %v\n%s", name, args, uid, err, buf.String())
		}
	}

	// The detector on a host sends its alerts to the sidekick on that host,
	// and its ExecStartPre checks the configuration it starts with.
	flags := func(args []string) (cfg string, overrides []string) {
		for i := 0; i+1 < len(args); i++ {
			switch args[i] {
			case "-c":
				cfg = args[i+1]
			case "-o":
				overrides = append(overrides, args[i+1])
			}
		}
		return cfg, overrides
	}
	cfgPath, overrides := flags(commands["nightjar.service"]["ExecStart"])
	preCfg, preOverrides := flags(commands["nightjar.service"]["ExecStartPre"])
	if preCfg != cfgPath || !slices.Equal(preOverrides, overrides) {
		t.Errorf("nightjar.service: ExecStartPre checks -c %s -o %v, ExecStart runs -c %s -o %v", preCfg, preOverrides, cfgPath, overrides)
	}
	dcfg, _, err := detector.LoadConfig(cfgPath, true, overrides)
	if err != nil {
		t.Fatalf("nightjar.service: %v", err)
	}
	if want := fmt.Sprintf("http://127.0.0.1:%d/", config.DefaultListenPort); !dcfg.HTTPOutput.Enabled || dcfg.HTTPOutput.URL != want {
		t.Errorf("nightjar.service: http_output enabled=%v url=%s: want the sidekick on this host, %s", dcfg.HTTPOutput.Enabled, dcfg.HTTPOutput.URL, want)
	}

	// systemd's own reading of the units (unknown settings, bad syntax).
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Log("systemd-analyze not found: the unit files' syntax is not checked")
		return
	}
	dir := t.TempDir()
	var paths []string
	for _, name := range []string{"nightjar.service", "nightjar-sidekick.service"} {
		b, err := os.ReadFile(filepath.Join(root, "deploy/systemd", name))
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(strings.ReplaceAll(string(b), "/usr/local/bin/", bin+"/")), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	out, err := command(analyze, append([]string{"verify", "--man=no"}, paths...)...).CombinedOutput()
	if err != nil || strings.Contains(string(out), ".service") {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}
