package plugins

import (
	"regexp"
	"strings"
	"sync"

	"github.com/ianlancetaylor/demangle"
	"github.com/perfprobe/perfprobe/profile/symbolize"
)

// Category names a kind of problem. The frame categories below are also
// what a stack's frames are classified into; the others are found from
// counts, histograms and metadata.
type Category string

// Categories. Each built-in plugin reports under one (or two) of them, and
// the bottleneck list and SLOs (share(hashing, oncpu)) name them.
const (
	CatTLSHandshake  Category = "tls-handshake"
	CatHashing       Category = "hashing"
	CatCrypto        Category = "crypto"
	CatSerialization Category = "serialization"
	CatCompression   Category = "compression"
	CatGC            Category = "gc"
	CatAllocation    Category = "allocation"
	CatLock          Category = "lock-contention"
	CatBlockedIO     Category = "blocked-io"
	CatSmallSyscalls Category = "small-syscalls"
	CatCPUSaturation Category = "cpu-saturation"
	CatThrottling    Category = "cpu-throttling"
	CatRegexp        Category = "regexp"
	CatReflection    Category = "reflection"
	CatFmtLogging    Category = "fmt-logging"
	CatGoroutines    Category = "goroutine-growth"
	CatProfilerCost  Category = "profiler-cost"
	CatSLO           Category = "slo"
	CatCustom        Category = "custom" // a bottleneck-list entry's own match
	// CatSyscall marks frames that enter the kernel (syscall wrappers);
	// CatFsync the durability syscalls among them.
	CatSyscall Category = "syscall"
	CatFsync   Category = "fsync"
)

// rule classifies a frame: by function name, and optionally by source
// file, into a category.
type rule struct {
	cat  Category
	fn   string // regexp on the function name
	file string // regexp on the file name; "" for any (or none)
}

// rules are every frame pattern, in one place so that each plugin stays
// small and the Go runtime's renames (crypto/internal/fips140/...) and the
// C, C++ and Rust spellings are handled once. Function patterns are
// matched against the symbolized (demangled) name.
var rules = []rule{
	// TLS handshakes: Go's crypto/tls, OpenSSL, BoringSSL, rustls, GnuTLS.
	{cat: CatTLSHandshake, fn: `^crypto/tls\.\(\*Conn\)\.(Handshake|HandshakeContext|handshakeContext|clientHandshake|serverHandshake)$|^crypto/tls\.\(\*(clientHandshakeState|clientHandshakeStateTLS13|serverHandshakeState|serverHandshakeStateTLS13)\)\.|^(SSL_do_handshake|SSL_connect|SSL_accept|ssl3_connect|ssl3_accept|tls_construct_.*|tls_process_.*|ossl_statem_.*|state_machine)$|^rustls::.*[Hh]andshake|^gnutls_handshake`},

	// Hashing: cryptographic and non-cryptographic digests.
	{cat: CatHashing, fn: `^crypto/(internal/fips140/|internal/fips140deps/)?(sha256|sha512|sha1|sha3|md5|hmac)\.|^crypto/internal/fips140/(sha256|sha512|sha3|hmac)\.|^hash/(crc32|crc64|fnv|adler32|maphash)\.|^github\.com/(cespare/xxhash|zeebo/xxh3|zeebo/blake3|minio/sha256-simd|minio/highwayhash|klauspost/crc32)|^golang\.org/x/crypto/(blake2b|blake2s|sha3|md4|ripemd160)\.|^lukechampine\.com/blake3|^(SHA(1|224|256|384|512)(_Init|_Update|_Final|_Transform)?|sha(1|256|512)_block(_data_order)?.*|sha(1|256|512)_(update|final|transform|compress).*|MD5(_Update|_Final)?|md5_block.*|EVP_Digest.*|XXH(32|64|3|128).*|crc32.*|blake2b?s?_.*|HMAC(_Update|_Final)?)$|^(sha2|sha1|md5|blake2|blake3|xxhash_rust|twox_hash|crc32fast)::|^(CryptoPP::SHA|absl::.*[Hh]ash|std::_Hash_bytes|std::hash)`},

	// Other cryptography: ciphers, signatures, key exchange, bignums.
	{cat: CatCrypto, fn: `^crypto/(internal/fips140/)?(aes|cipher|ecdsa|ed25519|rsa|ecdh|elliptic|des|rc4|subtle|mlkem|hkdf|pbkdf2)\.|^crypto/internal/(fips140/)?(nistec|bigmod|edwards25519|fips140/edwards25519|fips140/nistec|fips140/bigmod|fips140/aes|fips140/ecdh|fips140/ecdsa|fips140/rsa|fips140/mlkem)|^crypto/internal/boring|^vendor/golang\.org/x/crypto/|^golang\.org/x/crypto/(chacha20|chacha20poly1305|curve25519|poly1305|bcrypt|scrypt|argon2|nacl|salsa20)|^math/big\.|^(AES_.*|aesni_.*|aes_.*|EVP_(Encrypt|Decrypt|Cipher|PKEY|Sign|Verify).*|RSA_.*|rsa_.*|ECDSA_.*|ecdsa_.*|EC_POINT_.*|ec_GFp_.*|ecp_nistz256_.*|x25519.*|X25519.*|BN_.*|bn_.*|gcm_.*|CRYPTO_gcm128_.*|ChaCha20.*|chacha20_.*|poly1305_.*)$|^(ring|aes|rsa|p256|x25519_dalek|curve25519_dalek|chacha20poly1305)::`},

	// Serialization: encoding/json, protobuf, gob, xml, and their
	// reflection-based encoders.
	{cat: CatSerialization, fn: `^encoding/(json|xml|gob|csv|asn1|base64|hex|binary)\.|^encoding/json/(v2|jsontext)|^github\.com/(golang/protobuf|gogo/protobuf|json-iterator/go|goccy/go-json|bytedance/sonic|mailru/easyjson|vmihailenco/msgpack|ugorji/go/codec|tinylib/msgp|fxamacker/cbor|go-json-experiment/json|pquerna/ffjson|segmentio/encoding)|^google\.golang\.org/protobuf/|^gopkg\.in/yaml|^go\.yaml\.in/yaml|^sigs\.k8s\.io/yaml|^(cJSON_.*|json_.*|yajl_.*)$|^(serde_json|serde::|prost::|rmp_serde|bincode::)|^(nlohmann::|rapidjson::|google::protobuf::|simdjson::)`},

	// Compression.
	{cat: CatCompression, fn: `^compress/(gzip|flate|zlib|lzw|bzip2)\.|^github\.com/(klauspost/compress|klauspost/pgzip|golang/snappy|pierrec/lz4|DataDog/zstd|valyala/gozstd|andybalholm/brotli|ulikunitz/xz)|^(deflate.*|inflate.*|compress2?|uncompress|crc32_z|adler32_z|longest_match|fill_window|ZSTD_.*|LZ4_.*|BZ2_.*|lzma_.*|snappy::.*|BrotliEncoder.*|BrotliDecoder.*)$|^(flate2|miniz_oxide|zstd|lz4_flex|brotli|snap)::`},

	// Garbage collection work (not allocation itself).
	{cat: CatGC, fn: `^runtime\.(gcBgMarkWorker|gcDrain|gcDrainN|gcDrainMarkWorker.*|markroot.*|scanobject|scanblock|scanstack|scanframeworker|greyobject|shade|gcMarkDone|gcMarkTermination|gcStart|gcSweep|bgsweep|sweepone|bgscavenge|markBits.*|wbBufFlush.*|gcWriteBarrier.*|gcFlushBgCredit|gcAssistAlloc1?|gcParkAssist|tryDeferToSpanScan|scanSpan.*|\(\*gcWork\)\..*|\(\*mspan\)\.sweep|\(\*sweepLocked\)\.sweep|\(\*gcControllerState\)\..*)$|^(GC_.*|mark_.*|sweep_.*)$`},

	// Allocation: the allocator's own paths, including GC assists that
	// allocation triggers.
	{cat: CatAllocation, fn: `^runtime\.(mallocgc.*|newobject|newarray|makeslice|makeslicecopy|growslice|makemap.*|mapassign.*|rawstring|rawbyteslice|rawruneslice|slicebytetostring|stringtoslicebyte|concatstrings|concatstring[0-9]|convT.*|\(\*mcache\)\.(nextFree|refill)|\(\*mcentral\)\.(cacheSpan|grow)|\(\*mheap\)\.(alloc|allocSpan)|memclrNoHeapPointers|gcAssistAlloc|deductAssistCredit)$|^(malloc|calloc|realloc|free|_int_malloc|_int_free|operator new|operator delete|je_.*|tc_.*|mi_.*)$`},

	// Locks: Go's sync package and runtime semaphores, pthread mutexes,
	// futex waits (kernel frames are classified by classifyKernel).
	{cat: CatLock, fn: `^sync\.\(\*(Mutex|RWMutex)\)\.(Lock|lockSlow|RLock|rLockSlow|Unlock|unlockSlow|RUnlock)$|^internal/sync\.\(\*(Mutex|RWMutex)\)\.|^sync\.runtime_(SemacquireMutex|SemacquireRWMutex|SemacquireRWMutexR|Semacquire)$|^internal/sync\.runtime_Semacquire|^runtime\.(semacquire1?|sync_runtime_Semacquire.*|lock2|lockWithRank|futexsleep)$|^(pthread_mutex_lock|__pthread_mutex_lock.*|pthread_rwlock_(rd|wr)lock|__lll_lock_wait.*|futex_wait|std::mutex::lock|parking_lot::.*lock.*|std::sys::.*futex.*)$`},

	// Regular expressions: compiling and matching.
	{cat: CatRegexp, fn: `^regexp\.|^regexp/syntax\.|^github\.com/(dlclark/regexp2|grafana/regexp)|^(pcre2?_.*|regcomp|regexec|re_search.*|onig_.*)$|^(regex::|regex_automata::|std::__detail::_Compiler|std::basic_regex|boost::re_detail)`},

	// Reflection.
	{cat: CatReflection, fn: `^reflect\.|^internal/reflectlite\.`},

	// fmt and logging.
	{cat: CatFmtLogging, fn: `^fmt\.|^log\.|^log/slog\.|^go\.uber\.org/zap|^github\.com/(sirupsen/logrus|rs/zerolog|go-kit/log|golang/glog)|^k8s\.io/klog|^(v?s?n?printf|v?fprintf|__vfprintf_internal|__printf_fp.*|syslog|vsyslog)$|^(std::fmt::|log::|tracing::|spdlog::|fmt::v)`},

	// The Go runtime's profilers at work in the target: serving a profile
	// (as profile.IsProfilerStack marks them) and the CPU profiler's
	// signal handler. Their time is the capture's own cost, so the hot-spot
	// plugins leave these stacks out.
	{cat: CatProfilerCost, fn: `^runtime/pprof\.|^net/http/pprof\.|^github\.com/felixge/fgprof\.|^runtime\.(sigprof|sigprofNonGo|sigprofNonGoPC)$`},

	// Syscall entry points (the frames that leave user space), and the
	// durability ones.
	{cat: CatSyscall, fn: `^syscall\.(Syscall6?|RawSyscall6?|syscall)$|^internal/runtime/syscall\.Syscall6$|^internal/runtime/syscall/linux\.Syscall6$|^runtime/internal/syscall\.Syscall6$|^syscall\.(Read|Write|Pread|Pwrite|Fsync|Fdatasync)$|^internal/poll\.ignoringEINTRIO$|^(read|write|pread64|pwrite64|readv|writev|__libc_(read|write)|__GI___libc_(read|write)|fsync|fdatasync|sync_file_range|syscall)$`},
	{cat: CatFsync, fn: `^syscall\.(Fsync|Fdatasync)$|^os\.\(\*File\)\.Sync$|^internal/poll\.\(\*FD\)\.Fsync$|^(fsync|fdatasync|sync_file_range|msync)$`},
}

// kernelRules classify kernel frames (without the "_[k]" suffix).
var kernelRules = []rule{
	{cat: CatLock, fn: `^(futex_wait.*|__futex_wait|futex_q_lock|rwsem_down_.*|mutex_lock.*|__mutex_lock.*)$`},
	{cat: CatFsync, fn: `^(vfs_fsync_range|do_fsync|__x64_sys_fsync|__x64_sys_fdatasync|ext4_sync_file|xfs_file_fsync|btrfs_sync_file|jbd2_.*wait.*|file_write_and_wait_range)$`},
	{cat: CatSyscall, fn: `^(entry_SYSCALL_64.*|do_syscall_64|x64_sys_call)$`},
}

// catBits gives each category its bit in a stack's mask.
var catBits = map[Category]uint64{}

type compiled struct {
	cat  Category
	fn   *regexp.Regexp
	file *regexp.Regexp
}

var compiledRules, compiledKernel = compile(rules), compile(kernelRules)

// FocusOf is the -focus regexp of a category: its function patterns.
var focusOf = map[Category]string{}

func compile(rs []rule) []compiled {
	out := make([]compiled, 0, len(rs))
	for _, r := range rs {
		if _, ok := catBits[r.cat]; !ok {
			catBits[r.cat] = 1 << len(catBits)
		}
		c := compiled{cat: r.cat, fn: regexp.MustCompile(anchored(r.fn))}
		if r.file != "" {
			c.file = regexp.MustCompile(r.file)
		}
		out = append(out, c)
		if f := focusOf[r.cat]; f != "" {
			focusOf[r.cat] = f + "|" + r.fn
		} else {
			focusOf[r.cat] = r.fn
		}
	}
	return out
}

// anchored rewrites "^a|^b$|^c" as "^(?:a|b$|c)": Go's regexp runs an
// alternation of anchored branches at every position of the name, but a
// regexp anchored as a whole at the first only (10x faster here).
func anchored(re string) string {
	var alts []string
	depth, start, class := 0, 0, false
	for i := 0; i < len(re); i++ {
		switch c := re[i]; {
		case c == '\\':
			i++
		case class:
			class = c != ']'
		case c == '[':
			class = true
		case c == '(':
			depth++
		case c == ')':
			depth--
		case c == '|' && depth == 0:
			alts = append(alts, re[start:i])
			start = i + 1
		}
	}
	alts = append(alts, re[start:])
	for i, a := range alts {
		if !strings.HasPrefix(a, "^") {
			return re // not every branch anchored: leave it
		}
		alts[i] = a[1:]
	}
	return "^(?:" + strings.Join(alts, "|") + ")"
}

func (c Category) bit() uint64 { return catBits[c] }

// Focus is a regexp that matches the category's frames, for a pprof
// -focus query ("" for a category that is not about frames).
func (c Category) Focus() string { return focusOf[c] }

func classify(name, file string) uint64 {
	name = demangled(name)
	var bits uint64
	for _, r := range compiledRules {
		if r.fn.MatchString(name) && (r.file == nil || r.file.MatchString(file)) {
			bits |= catBits[r.cat]
		}
	}
	return bits
}

func classifyKernel(name string) uint64 {
	var bits uint64
	for _, r := range compiledKernel {
		if r.fn.MatchString(name) {
			bits |= catBits[r.cat]
		}
	}
	return bits
}

// demangled is a C++ or Rust symbol's demangled name without its
// parameters ("std::mutex::lock"), which the rules are written against,
// whether the frame holds the mangled name or the symbolizer's demangled
// one ("std::mutex::lock()"); other names as they are.
func demangled(name string) string {
	if !strings.HasPrefix(name, "_Z") && !strings.HasPrefix(name, "_R") {
		return symbolize.SimpleName(name)
	}
	return demangle.Filter(name, demangle.NoParams, demangle.NoTemplateParams)
}

// Classify returns the categories of one frame: a function name as
// profile.Frames writes it (kernel frames end in "_[k]") and its source
// file ("" when unknown).
func Classify(name, file string) []Category {
	var bits uint64
	if k, ok := strings.CutSuffix(name, "_[k]"); ok {
		bits = classifyKernel(k)
	} else {
		bits = classify(name, file)
	}
	var out []Category
	for _, r := range append(compiledRules, compiledKernel...) {
		if b := catBits[r.cat]; bits&b != 0 {
			bits &^= b
			out = append(out, r.cat)
		}
	}
	return out
}

// FrameIn reports whether a frame (as profile.Frames writes it) is in cat.
func FrameIn(name string, cat Category) bool {
	frameMu.RLock()
	bits, ok := frameBits[name]
	frameMu.RUnlock()
	if !ok {
		if k, kernel := strings.CutSuffix(name, "_[k]"); kernel {
			bits = classifyKernel(k)
		} else {
			bits = classify(name, "")
		}
		frameMu.Lock()
		frameBits[name] = bits
		frameMu.Unlock()
	}
	return bits&cat.bit() != 0
}

// frameBits caches FrameIn's classification by frame name (a map under a
// read lock: several times faster than sync.Map for this read-mostly use).
var (
	frameMu   sync.RWMutex
	frameBits = map[string]uint64{}
)

// FrameCategories lists the categories frames are classified into.
func FrameCategories() []Category {
	seen := map[Category]bool{}
	var out []Category
	for _, r := range append(compiledRules, compiledKernel...) {
		if !seen[r.cat] {
			seen[r.cat] = true
			out = append(out, r.cat)
		}
	}
	return out
}

// FrameMatcher compiles a frame-name pattern ("^a|^b" branches are anchored
// as a whole, see anchored) into a test that remembers its answer per
// name: plugins ask about every frame of every sample, and names repeat.
func FrameMatcher(pattern string) func(name string) bool {
	re := regexp.MustCompile(anchored(pattern))
	var memo sync.Map
	return func(name string) bool {
		if v, ok := memo.Load(name); ok {
			return v.(bool)
		}
		v := re.MatchString(name)
		memo.Store(name, v)
		return v
	}
}
