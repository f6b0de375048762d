package profile

import (
	"time"

	"github.com/perfprobe/perfprobe/profile/symbolize"
)

// The sample types of perfprobe's probes that the analyses in this module
// read by name. Each probe declares its types (unit, meaning) in its own
// folder (probes.Description); each is its own quantity, never summed into
// one number.
const (
	TypeOnCPU                 = "oncpu"                  // nanoseconds on CPU, estimated from sampling
	TypeOffCPUBlocked         = "offcpu_blocked"         // nanoseconds from switch-out until wakeup
	TypeOffCPURunqueue        = "offcpu_runqueue"        // nanoseconds from wakeup/preemption until switch-in
	TypeOffCPUUninterruptible = "offcpu_uninterruptible" // the part of offcpu_blocked spent in D state
	TypeIOWait                = "iowait"                 // nanoseconds inside slow I/O syscalls, at their entry stack
	TypeTLSHandshake          = "tls_handshake"          // nanoseconds inside TLS handshakes, at the stack that started them
)

// Kernel is the kernel a capture ran on and the way each probe chose to
// hook it there.
type Kernel struct {
	Release string            `json:"release"`
	Paths   map[string]string `json:"paths"` // per probe: the hooks chosen and why
}

// Capture is what a probe session hands to the rest of the pipeline: raw
// stacks (unsymbolized addresses) with values, histograms, counters, drops
// and what the capture itself cost.
type Capture struct {
	// Target is the first of Targets, for readers of one-process captures.
	Target Target `json:"target"`
	// Targets are every process profiled, in the order they became
	// targets: given at the start, added during the capture, or followed
	// as children of a target.
	Targets  []Target  `json:"targets"`
	Start    time.Time `json:"start"`
	End      time.Time `json:"end"`
	Probes   []string  `json:"probes"`
	Kernel   Kernel    `json:"kernel"`
	Hz       int       `json:"hz"`
	EndCause string    `json:"end_cause"` // "duration", "signal", "target-exited", "command-exited"

	// SampleTypes are the types of the probes that ran (their stacks'
	// types, and zero totals for the rest); see SampleType.
	SampleTypes []string              `json:"-"`
	Stacks      []Stack               `json:"-"`
	Histograms  map[string]*Histogram `json:"-"`
	Counts      map[string]uint64     `json:"-"`
	Drops       map[string]uint64     `json:"-"`
	Threads     map[uint32]*Thread    `json:"-"`
	SelfCost    SelfCost              `json:"-"`
	Warnings    []string              `json:"-"`

	// TargetHistograms are histograms of Histograms per target process,
	// by pid, under the same names, for those the probes keep per process
	// (run queue and blocked, I/O syscalls, TLS handshakes): for each
	// name, the pids' histograms add up to the capture's (counts, slots
	// and sums; max is best effort). A pid with no event of a histogram in
	// the window has no entry for it.
	TargetHistograms map[int]map[string]*Histogram `json:"-"`
}

// Target identifies a profiled process.
type Target struct {
	PID     int      `json:"pid"`
	Comm    string   `json:"comm"`
	Exe     string   `json:"exe"`
	Cmdline []string `json:"cmdline,omitempty"`
	// Parent is the target that forked this one when it was followed as
	// a child, else 0.
	Parent  int       `json:"parent,omitempty"`
	Started time.Time `json:"started,omitzero"` // the process started (10 ms resolution)
	Added   time.Time `json:"added,omitzero"`   // it became a target: the window start for those given at the start
	Exited  time.Time `json:"exited,omitzero"`  // its last thread exited, during the capture
	Removed time.Time `json:"removed,omitzero"` // it stopped being a target while it ran
	// Meta is what the diagnosis needs to know about the process: its
	// language and runtime, the CPUs it may use and its cgroup's CPU quota
	// and throttling over the window. Nil when it could not be read.
	Meta *TargetMeta `json:"meta,omitempty"`
}

// TargetMeta describes a target process for the diagnosis.
type TargetMeta struct {
	Language   string `json:"language,omitempty"`   // "go", "c", "c++", "rust", ... best guess from the executable
	GoVersion  string `json:"go_version,omitempty"` // from the executable's build info
	GOMAXPROCS int    `json:"gomaxprocs,omitempty"` // when known (environment, or the runtime's default)
	// GOMAXPROCSFrom says where GOMAXPROCS came from: "env", "default".
	GOMAXPROCSFrom string `json:"gomaxprocs_from,omitempty"`
	CPUs           int    `json:"cpus"` // CPUs the process may run on (its affinity mask)
	// Cgroup is the CPU controller of the process's cgroup, nil when
	// there is none to read.
	Cgroup *CgroupCPU `json:"cgroup_cpu,omitempty"`
	// NSPID is the process's pid in its own (innermost) pid namespace,
	// from NSpid in /proc/PID/status: the pid its logs and its container
	// know it by; 0 when unknown.
	NSPID int `json:"ns_pid,omitempty"`
	// CgroupPath is the process's cgroup (v2, else the first v1
	// hierarchy's), from /proc/PID/cgroup.
	CgroupPath string `json:"cgroup,omitempty"`
	// Container names its container ("docker:<12-digit id>",
	// "containerd:...", "crio:...", "podman:..."), else its systemd unit,
	// else its cgroup path; "" in the root cgroup.
	Container string `json:"container,omitempty"`
}

// CgroupCPU is a cgroup's CPU quota and what it did over the window:
// counters are deltas between the start and the end of the capture.
type CgroupCPU struct {
	Path      string  `json:"path"`       // e.g. /sys/fs/cgroup/system.slice/foo.service
	Version   int     `json:"version"`    // 1 or 2
	QuotaCPUs float64 `json:"quota_cpus"` // quota / period; 0: no limit
	PeriodUs  uint64  `json:"period_us"`
	// Over the window:
	Periods     uint64 `json:"nr_periods"`
	Throttled   uint64 `json:"nr_throttled"`
	ThrottledNs uint64 `json:"throttled_ns"`
	UsageNs     uint64 `json:"usage_ns"`
}

// Stack is one aggregated stack of one thread for one sample type. Addresses
// are leaf first, as the kernel reports them.
type Stack struct {
	Type   string   // one of the Type* constants
	PID    uint32   // process id (tgid) of the thread; 0: the capture's Target
	TID    uint32   // thread id
	Thread string   // thread name (comm) when known
	User   []uint64 // user-space return addresses, leaf first
	Kernel []uint64 // kernel addresses, leaf first
	// Leaf holds the code-looking words found at the user stack pointer
	// with User, from which symbolize.Process.SpliceLeaf puts back the
	// callers a frame-pointer walk skips (frameless leaves).
	Leaf  []symbolize.StackWord `json:",omitempty"`
	Value int64                 // nanoseconds
	Count int64                 // samples or events behind Value
	// Labels become pprof string labels (e.g. "syscall": "fsync",
	// "tls": "client"); samples with different labels stay apart.
	Labels map[string]string
}

// Thread holds the per-thread time accounting of one capture window.
type Thread struct {
	TID        uint32 `json:"tid"`
	PID        uint32 `json:"pid,omitempty"` // its process
	Name       string `json:"name"`
	OnCPUNs    uint64 `json:"oncpu_ns"`    // exact, from the scheduler
	BlockedNs  uint64 `json:"blocked_ns"`  // switch-out until wakeup
	RunqueueNs uint64 `json:"runqueue_ns"` // runnable but waiting for a CPU
	// UninterruptibleNs is the part of BlockedNs spent in D state.
	UninterruptibleNs uint64 `json:"uninterruptible_ns"`
	Samples           uint64 `json:"samples"` // on-CPU samples taken
}

// SelfCost is what the capture cost the machine.
type SelfCost struct {
	BPFRunNs      uint64            `json:"bpf_run_ns"`      // time spent in our BPF programs (BPF stats)
	BPFRunCount   uint64            `json:"bpf_run_count"`   // times our BPF programs ran
	BPFPrograms   map[string]uint64 `json:"bpf_programs_ns"` // per program
	BPFMissedRuns uint64            `json:"bpf_missed_runs"` // runs the kernel skipped (another BPF program was running on that CPU)
	UserCPUNs     uint64            `json:"user_cpu_ns"`     // perfprobe's own user CPU time
	SystemCPUNs   uint64            `json:"system_cpu_ns"`   // perfprobe's own system CPU time
	PeakRSSBytes  uint64            `json:"peak_rss_bytes"`  // perfprobe's peak resident set
	AttachSeconds float64           `json:"attach_seconds"`  // from start to attached
	// DiagnosisSeconds is what the diagnosis at the end added (plugins,
	// external plugins, the bottleneck list), before the files were written.
	DiagnosisSeconds float64 `json:"diagnosis_seconds"`
}
