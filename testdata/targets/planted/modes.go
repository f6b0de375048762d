package main

import (
	"bytes"
	"compress/gzip"
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"reflect"
	"regexp"
	"runtime/debug"
	"strings"
)

// mode is one planted problem: setup runs once before the workers start
// (with -goroutines), newState gives each worker its buffers, and plant is
// one unit of the planted work (tens of microseconds), nil for a mode
// whose plant is not CPU time.
type mode struct {
	setup    func(goroutines int)
	newState func() any
	plant    func(st any)
}

// modes is the table of planted problems; add a mode here.
var modes = map[string]*mode{
	"hashing":    {newState: newBuffer, plant: plantHashing},
	"crypto":     {newState: newSealer, plant: plantCrypto},
	"json":       {newState: newRecords, plant: plantJSON},
	"gzip":       {newState: newCompressor, plant: plantGzip},
	"gc":         {setup: func(int) { debug.SetGCPercent(10) }, newState: newForest, plant: plantGC},
	"alloc":      {setup: func(int) { ballast = make([]byte, 32<<20) }, newState: newSizer, plant: plantAlloc},
	"regexp":     {newState: newLines, plant: plantRegexp},
	"reflect":    {newState: newTwins, plant: plantReflect},
	"fmt":        {newState: newPrinter, plant: plantFmt},
	"goroutines": {setup: spawnParked, newState: func() any { return nil }},
}

// text is semi-compressible input: words from a small vocabulary.
func text(n int) []byte {
	words := strings.Fields("the quick brown fox jumps over a lazy dog while perfprobe samples every stack it sees 0123 4567 89")
	var b bytes.Buffer
	for i := uint64(1); b.Len() < n; i++ {
		i = i*6364136223846793005 + 1442695040888963407
		b.WriteString(words[(i>>33)%uint64(len(words))])
		b.WriteByte(' ')
	}
	return b.Bytes()[:n]
}

func newBuffer() any { return text(64 << 10) }

// plantHashing chains SHA-256 over 64 KiB.
//
//go:noinline
func plantHashing(st any) {
	buf := st.([]byte)
	sum := sha256.Sum256(buf)
	copy(buf, sum[:])
}

type sealer struct {
	aead       cipher.AEAD
	nonce      []byte
	plain, dst []byte
}

func newSealer() any {
	block, err := aes.NewCipher(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		panic(err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic(err)
	}
	return &sealer{aead: aead, nonce: make([]byte, aead.NonceSize()), plain: text(64 << 10), dst: make([]byte, 0, 64<<10+aead.Overhead())}
}

// plantCrypto seals 64 KiB with AES-256-GCM (no hashing on the way).
//
//go:noinline
func plantCrypto(st any) {
	s := st.(*sealer)
	s.nonce[0]++
	s.dst = s.aead.Seal(s.dst[:0], s.nonce, s.plain, nil)
}

type item struct {
	ID    int      `json:"id"`
	Name  string   `json:"name"`
	Price float64  `json:"price"`
	Tags  []string `json:"tags"`
	Valid bool     `json:"valid"`
}

type records struct {
	Items []item `json:"items"`
	buf   bytes.Buffer
	enc   *json.Encoder
}

func newRecords() any {
	r := &records{}
	for i := range 100 {
		r.Items = append(r.Items, item{ID: i, Name: fmt.Sprintf("item-%d", i), Price: float64(i) * 1.25, Tags: []string{"a", "bb", "ccc"}, Valid: i%2 == 0})
	}
	r.enc = json.NewEncoder(&r.buf)
	return r
}

// plantJSON encodes 100 records with encoding/json into a reused buffer.
//
//go:noinline
func plantJSON(st any) {
	r := st.(*records)
	r.buf.Reset()
	if err := r.enc.Encode(r.Items); err != nil {
		panic(err)
	}
}

type compressor struct {
	w   *gzip.Writer
	in  []byte
	out bytes.Buffer
}

func newCompressor() any {
	c := &compressor{in: text(4 << 10)}
	c.w = gzip.NewWriter(&c.out)
	return c
}

// plantGzip gzips 4 KiB of text into a reused buffer.
//
//go:noinline
func plantGzip(st any) {
	c := st.(*compressor)
	c.out.Reset()
	c.w.Reset(&c.out)
	c.w.Write(c.in)
	c.w.Close()
}

type node struct {
	left, right *node
	val         [2]int
}

// forest keeps the last trees alive, so each GC cycle has a live heap of
// pointers to mark.
type forest struct {
	trees [64]*node
	next  int
}

func newForest() any { return &forest{} }

func tree(depth int) *node {
	if depth == 0 {
		return &node{}
	}
	return &node{left: tree(depth - 1), right: tree(depth - 1), val: [2]int{depth}}
}

// plantGC builds a tree of 1023 nodes that replaces the oldest of 64.
//
//go:noinline
func plantGC(st any) {
	f := st.(*forest)
	f.trees[f.next] = tree(9)
	f.next = (f.next + 1) % len(f.trees)
}

var ballast []byte

// sizer holds the size the plant allocates: not a constant, so the
// compiler cannot keep the buffers on the stack.
type sizer struct {
	size int
	sum  int
}

func newSizer() any { return &sizer{size: 256} }

// plantAlloc allocates 256 pointer-free 256-byte buffers on the heap and
// keeps none of them, so no write barrier or pointer store adds to the
// allocator's own time.
//
//go:noinline
func plantAlloc(st any) {
	s := st.(*sizer)
	for range 256 {
		b := make([]byte, s.size)
		s.sum += int(b[s.sum&0xff])
	}
}

type lines struct {
	in      []string
	matches int
}

func newLines() any {
	return &lines{in: []string{"mail alice@example.com now", "no address here", "bob@site.org"}}
}

// plantRegexp compiles its pattern on every call, the mistake, and
// matches one line with it.
//
//go:noinline
func plantRegexp(st any) {
	l := st.(*lines)
	re := regexp.MustCompile(`([a-z0-9._%+-]+)@([a-z0-9.-]+)\.(com|org|net)`)
	if re.MatchString(l.in[l.matches%len(l.in)]) {
		l.matches++
	} else {
		l.matches += 2
	}
}

type twin struct {
	A, B int
	S    string
	F    float64
	T    [4]int16
}

type twins struct{ a, b []twin }

func newTwins() any {
	t := &twins{}
	for i := range 1000 {
		v := twin{A: i, B: -i, S: "twin", F: float64(i), T: [4]int16{1, 2, 3, int16(i)}}
		t.a, t.b = append(t.a, v), append(t.b, v)
	}
	return t
}

// plantReflect compares two equal slices of 1000 structs field by field
// with reflect.DeepEqual.
//
//go:noinline
func plantReflect(st any) {
	t := st.(*twins)
	if !reflect.DeepEqual(t.a, t.b) {
		panic("twins differ")
	}
}

type printer struct {
	buf  bytes.Buffer
	log  *log.Logger
	args []any
}

func newPrinter() any {
	p := &printer{args: []any{"request", 12345678, 3.14159, "GET /index.html", true}}
	p.log = log.New(&p.buf, "planted ", log.LstdFlags)
	return p
}

// plantFmt formats 20 lines with fmt.Fprintf and 20 with log.Printf into
// a reused buffer (the arguments are boxed once, so the plant allocates
// nothing itself).
//
//go:noinline
func plantFmt(st any) {
	p := st.(*printer)
	p.buf.Reset()
	for range 20 {
		fmt.Fprintf(&p.buf, "%s id=%d took=%.3fms path=%q ok=%v\n", p.args...)
		p.log.Printf("%s id=%d took=%.3fms path=%q ok=%v", p.args...)
	}
	io.Discard.Write(p.buf.Bytes())
}

// spawnParked starts n goroutines that block forever.
//
//go:noinline
func spawnParked(n int) {
	never := make(chan struct{})
	for range n {
		go parkedGoroutine(never)
	}
}

//go:noinline
func parkedGoroutine(never <-chan struct{}) { <-never }
