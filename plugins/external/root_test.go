package external

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/perfprobe/perfprobe/plugins"
)

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: checks what perfprobe does with plugins when it runs as root")
	}
}

// whoScript reports who the plugin runs as, one finding per fact.
const whoScript = `cat >/dev/null
printf '{"findings": [{"title": "uid %s"}, {"title": "gid %s"}, {"title": "groups %s"}, {"title": "home %s"}]}\n' "$(id -u)" "$(id -g)" "$(id -G)" "$HOME"`

func facts(rep *plugins.Report) map[string]string {
	got := map[string]string{}
	for _, f := range rep.Findings {
		k, v, _ := strings.Cut(f.Title, " ")
		got[k] = v
	}
	return got
}

// As root, a plugin runs as nobody without SUDO_UID and as the invoking
// user with it, with no supplementary group (not root's); a profile that
// user cannot read is named in the status.
func TestRootRunsAs(t *testing.T) {
	requireRoot(t)
	dir := pluginDir(t)
	bin := script(t, dir, "who", whoScript)
	ev := spinEvidence(t, dir)
	for _, c := range []struct {
		name, sudoUID, sudoGID string
		want                   map[string]string
	}{
		{"nobody", "", "", map[string]string{"uid": "65534", "gid": "65534", "groups": "65534", "home": "/"}},
		{"sudo", "4242", "4343", map[string]string{"uid": "4242", "gid": "4343", "groups": "4343", "home": "/"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			sudo(t, c.sudoUID, c.sudoGID)
			rep := emptyReport()
			Run(context.Background(), ev, rep, Options{Listed: []string{bin}, NoPath: true})
			got := facts(rep)
			t.Logf("ran as %v; status %+v", got, rep.Plugins)
			for k, v := range c.want {
				if got[k] != v {
					t.Errorf("%s %q, want %q", k, got[k], v)
				}
			}
			if st := status(t, rep, "who"); st.Status != plugins.StatusOK || st.Reason != "" {
				t.Errorf("status %+v, want ok without a note (the profile is 0644)", st)
			}
		})
	}

	t.Run("unreadable-profile", func(t *testing.T) {
		sudo(t, "", "")
		if err := os.Chmod(ev.ProfilePath, 0o600); err != nil {
			t.Fatal(err)
		}
		defer os.Chmod(ev.ProfilePath, 0o644)
		rep := emptyReport()
		Run(context.Background(), ev, rep, Options{Listed: []string{bin}, NoPath: true})
		st := status(t, rep, "who")
		want := "the profile " + ev.ProfilePath + " is not readable by uid 65534 (nobody), which the plugin runs as"
		if st.Status != plugins.StatusOK || st.Reason != want || st.Findings != 4 {
			t.Errorf("status %+v, want ok with reason %q", st, want)
		}
	})

	t.Run("cannot-exec", func(t *testing.T) {
		sudo(t, "", "")
		private := t.TempDir() // 0700: nobody cannot reach into it
		bin := script(t, private, "private", whoScript)
		rep := emptyReport()
		Run(context.Background(), spinEvidence(t, ""), rep, Options{Listed: []string{bin}, NoPath: true})
		want := "cannot start as uid 65534 (nobody): fork/exec " + bin + ": permission denied"
		if st := status(t, rep, "private"); st.Status != plugins.StatusFailed || st.Reason != want {
			t.Errorf("status %+v, want failed %q", st, want)
		}
	})

	t.Run("owned-by-invoker", func(t *testing.T) {
		sudo(t, "4242", "4242")
		mine := script(t, dir, "mine", whoScript)
		if err := os.Chown(mine, 4242, 4242); err != nil {
			t.Fatal(err)
		}
		rep := emptyReport()
		Run(context.Background(), ev, rep, Options{Listed: []string{mine}, NoPath: true})
		if got := facts(rep); got["uid"] != "4242" {
			t.Errorf("a plugin the invoking user owns: %+v, ran as %v", rep.Plugins, got)
		}
	})
}

// As root, a plugin file others could have written is refused and not run.
func TestRootRefuses(t *testing.T) {
	requireRoot(t)
	dir := pluginDir(t)
	open := filepath.Join(dir, "open")
	if err := os.Mkdir(open, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(open, 0o777); err != nil {
		t.Fatal(err)
	}
	sticky := filepath.Join(dir, "sticky")
	if err := os.Mkdir(sticky, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(sticky, 0o777|os.ModeSticky); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name    string
		dir     string
		mode    os.FileMode
		owner   int
		sudoUID string
		reason  string // "" when it runs
	}{
		{"world-writable", dir, 0o757, 0, "", "refused: %s is world-writable (mode 0757)"},
		{"group-writable", dir, 0o775, 0, "", "refused: %s is group-writable (mode 0775)"},
		{"other-owner", dir, 0o755, 4343, "", "refused: %s is owned by uid 4343, not root"},
		{"other-owner-sudo", dir, 0o755, 4343, "4242", "refused: %s is owned by uid 4343, not root or the invoking user (uid 4242)"},
		{"open-dir", open, 0o755, 0, "", "refused: perfprobe-plugin-open-dir is in " + open + ", which is world-writable without the sticky bit"},
		{"sticky-dir", sticky, 0o755, 0, "", ""},
		{"root-owned", dir, 0o755, 0, "4242", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			sudo(t, c.sudoUID, "")
			bin := script(t, c.dir, c.name, whoScript)
			if err := os.Chmod(bin, c.mode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chown(bin, c.owner, 0); err != nil {
				t.Fatal(err)
			}
			rep := emptyReport()
			Run(context.Background(), spinEvidence(t, ""), rep, Options{Listed: []string{bin}, NoPath: true})
			st := status(t, rep, c.name)
			t.Logf("%s: %s", st.Status, st.Reason)
			if c.reason == "" {
				if st.Status != plugins.StatusOK || st.Findings != 4 {
					t.Errorf("status %+v, want it to run", st)
				}
				return
			}
			want := c.reason
			if strings.Contains(want, "%s") {
				want = strings.Replace(want, "%s", bin, 1)
			}
			if st.Status != plugins.StatusFailed || st.Reason != want || len(rep.Findings) != 0 {
				t.Errorf("status %+v with %d findings, want failed %q", st, len(rep.Findings), want)
			}
		})
	}
}
