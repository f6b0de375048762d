package flame

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/pprof/profile"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// The browser tests load pages from file:// in headless Debian chromium and
// check what the page draws through its read-only hook, window.perfprobeFlame.

const chromiumPath = "/usr/bin/chromium"

// headless is one chromium with one tab, which the pages of a test
// and its subtests load into in turn: a tab costs half a second to open.
type headless struct {
	ctx context.Context // the tab

	mu  sync.Mutex
	cur *browserTab // the page whose events the listener records
}

// startBrowser starts the browser for a test and its subtests. It skips the
// test when chromium is not installed, unless PERFPROBE_REQUIRE_BROWSER=1 (as
// in CI) makes that a failure.
func startBrowser(t *testing.T) *headless {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		msg := fmt.Sprintf("browser tests need chromium at %s (apt install chromium): %v", chromiumPath, err)
		if os.Getenv("PERFPROBE_REQUIRE_BROWSER") == "1" {
			t.Fatal(msg + " (PERFPROBE_REQUIRE_BROWSER=1)")
		}
		t.Skip(msg)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox, // root in containers
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.WindowSize(1200, 900),
	)
	// A deadline for the whole browser, so a hung page fails the test.
	ctx, cancelTimeout := context.WithTimeout(context.Background(), 2*time.Minute)
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	tctx, cancelBrowser := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancelBrowser()
		cancelAlloc()
		cancelTimeout()
	})
	b := &headless{ctx: tctx}
	if err := chromedp.Do(tctx); err != nil {
		t.Fatalf("starting %s: %v", chromiumPath, err)
	}
	if err := chromedp.Listen(tctx, b.record); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(tctx, network.Enable, network.EnableParams{}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(tctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: dialogTrap}); err != nil {
		t.Fatal(err)
	}
	return b
}

// record notes what the current page did that it must not. It runs on the
// goroutine that reads the browser's messages, so it only appends.
func (b *headless) record(ev any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	tb := b.cur
	if tb == nil {
		return
	}
	switch ev := ev.(type) {
	case *network.EventRequestWillBeSent:
		if u := ev.Request.URL; u != tb.url && !strings.HasPrefix(u, "data:") {
			tb.requests = append(tb.requests, u)
		}
	case *page.EventJavascriptDialogOpening:
		tb.dialogs = append(tb.dialogs, ev.Message)
		go chromedp.Call(b.ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: false})
	case *runtime.EventExceptionThrown:
		msg := ev.ExceptionDetails.Text
		if e := ev.ExceptionDetails.Exception; e != nil {
			msg += " " + e.Description
		}
		tb.exceptions = append(tb.exceptions, msg)
	case *log.EventEntryAdded:
		if ev.Entry.Level == log.EntryLevelError {
			tb.exceptions = append(tb.exceptions, ev.Entry.Text)
		}
	}
}

// browserTab is one page loaded in the browser's tab, with what the page did
// that it must not: requests, dialogs, uncaught exceptions. The browser's
// mutex guards the slices.
type browserTab struct {
	t   *testing.T
	b   *headless
	ctx context.Context
	url string

	requests   []string // URLs of Network.requestWillBeSent other than the page and data: URLs
	dialogs    []string // Page.javascriptDialogOpening messages
	exceptions []string // uncaught exceptions and errors logged by the browser
}

// dialogTrap replaces the dialog functions before a page runs, so that a
// script injected through a function name would be counted rather than
// block the page. It also records what the Content-Security-Policy blocked:
// nothing, if the policy's hashes match the inline script and style.
const dialogTrap = `window.__dialogs = [];
for (const f of ['alert', 'confirm', 'prompt', 'print']) {
  window[f] = function (m) { window.__dialogs.push(f + ': ' + m); };
}
document.addEventListener('securitypolicyviolation', (e) => {
  window.__dialogs.push('Content-Security-Policy blocked ' + e.violatedDirective + ' ' + e.blockedURI);
});`

// openPage writes page to a temporary file and loads it from file://,
// after the setup actions (undone at the end). At the end of the (sub)test
// it fails if the page made any request, opened a dialog or threw.
func openPage(t *testing.T, b *headless, html string, setup ...chromedp.Action[chromedp.Void]) *browserTab {
	t.Helper()
	return openPageAt(t, b, html, "", setup...)
}

// openPageAt is openPage with a URL fragment ("#type=..."), which the
// browser does not send: requests are still compared with the bare URL.
func openPageAt(t *testing.T, b *headless, html, fragment string, setup ...chromedp.Action[chromedp.Void]) *browserTab {
	t.Helper()
	path := filepath.Join(t.TempDir(), "flame.html")
	if err := os.WriteFile(path, []byte(html), 0o644); err != nil {
		t.Fatal(err)
	}
	tb := &browserTab{t: t, b: b, ctx: b.ctx, url: (&url.URL{Scheme: "file", Path: path}).String()}
	b.mu.Lock()
	b.cur = tb
	b.mu.Unlock()
	t.Cleanup(func() {
		tb.checkClean()
		b.mu.Lock()
		b.cur = nil
		b.mu.Unlock()
		if len(setup) > 0 {
			if err := chromedp.Do(b.ctx, chromedp.EmulateReset()); err != nil {
				t.Error(err)
			}
		}
	})
	if err := chromedp.Do(b.ctx, setup...); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(b.ctx, chromedp.Navigate(tb.url+fragment)); err != nil {
		t.Fatalf("loading %s: %v", tb.url, err)
	}
	if st := tb.state(); !st.Ready {
		t.Fatal("page hook is not ready after load")
	}
	return tb
}

func (tb *browserTab) checkClean() {
	tb.t.Helper()
	// The trap counts dialogs that the page's code or an injected one called.
	var trapped []string
	if err := chromedp.Do(tb.ctx, evalInto(`window.__dialogs || []`, &trapped)); err != nil {
		tb.t.Errorf("reading dialog trap: %v", err)
	}
	tb.b.mu.Lock()
	defer tb.b.mu.Unlock()
	if len(tb.requests) > 0 {
		tb.t.Errorf("page made %d network requests, want 0: %q", len(tb.requests), tb.requests)
	}
	if len(tb.dialogs)+len(trapped) > 0 {
		tb.t.Errorf("page opened dialogs or broke its policy: %q %q", tb.dialogs, trapped)
	}
	if len(tb.exceptions) > 0 {
		tb.t.Errorf("page threw or logged errors: %q", tb.exceptions)
	}
}

// evalInto evaluates js and decodes its value into out.
func evalInto[T any](js string, out *T) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		v, err := chromedp.Evaluate[T](js)(ctx, t)
		*out = v
		return err
	})
}

// evalJS evaluates js in the tab and returns its value as T.
func evalJS[T any](tb *browserTab, js string) T {
	tb.t.Helper()
	v, err := chromedp.Run(tb.ctx, chromedp.Evaluate[T](js))
	if err != nil {
		tb.t.Fatalf("evaluating %s: %v", js, err)
	}
	return v
}

func (tb *browserTab) do(actions ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	if err := chromedp.Do(tb.ctx, actions...); err != nil {
		tb.t.Fatal(err)
	}
}

type namedValue struct {
	Name  string  `json:"name"`
	Value float64 `json:"value"`
}

// pageState mirrors perfprobeFlame.state().
type pageState struct {
	Ready             bool     `json:"ready"`
	Diff              bool     `json:"diff"`
	Type              string   `json:"type"`
	Types             []string `json:"types"`
	Compare           *string  `json:"compare"`
	CompareTypes      []string `json:"compareTypes"`
	View              string   `json:"view"`
	Total             float64  `json:"total"`
	TotalText         string   `json:"totalText"`
	ZoomedTo          *string  `json:"zoomedTo"`
	Query             string   `json:"query"`
	MatchedShare      *float64 `json:"matchedShare"`
	MatchedText       string   `json:"matchedText"`
	MatchedFrames     int      `json:"matchedFrames"`
	DrawnFrames       int      `json:"drawnFrames"`
	HighlightedFrames int      `json:"highlightedFrames"`
	TotalFrames       int      `json:"totalFrames"`
	TableRows         int      `json:"tableRows"`
	Findings          int      `json:"findings"`
	Sandwich          *struct {
		Name         string       `json:"name"`
		Value        float64      `json:"value"`
		Callers      []namedValue `json:"callers"`
		Callees      []namedValue `json:"callees"`
		CallerFrames int          `json:"callerFrames"`
		CalleeFrames int          `json:"calleeFrames"`
	} `json:"sandwich"`
	Timings struct {
		ScriptStart  float64 `json:"scriptStart"`
		Parsed       float64 `json:"parsed"`
		FirstPaint   float64 `json:"firstPaint"`
		LastActionMs float64 `json:"lastActionMs"`
		LastRenderMs float64 `json:"lastRenderMs"`
	} `json:"timings"`
}

// frameInfo mirrors perfprobeFlame.frame(name).
type frameInfo struct {
	Name        string  `json:"name"`
	Depth       int     `json:"depth"`
	Value       float64 `json:"value"`
	Self        float64 `json:"self"`
	Share       float64 `json:"share"`
	Colour      string  `json:"colour"`
	Drawn       bool    `json:"drawn"`
	BaseShare   float64 `json:"baseShare"`
	NewShare    float64 `json:"newShare"`
	DeltaPoints float64 `json:"deltaPoints"`
}

type frameRect struct{ X, Y, W, H float64 }

func (r frameRect) centre() (float64, float64) { return r.X + r.W/2, r.Y + r.H/2 }

func (tb *browserTab) state() pageState {
	tb.t.Helper()
	return evalJS[pageState](tb, `perfprobeFlame.state()`)
}

func (tb *browserTab) call(js string) {
	tb.t.Helper()
	evalJS[any](tb, `(perfprobeFlame.`+js+`, null)`)
}

func (tb *browserTab) frame(name, where string) frameInfo {
	tb.t.Helper()
	f := evalJS[*frameInfo](tb, fmt.Sprintf(`perfprobeFlame.frame(%s, %s)`, strconv.Quote(name), strconv.Quote(where)))
	if f == nil {
		tb.t.Fatalf("no frame %q in %q", name, where)
	}
	return *f
}

func (tb *browserTab) rect(name, where string) frameRect {
	tb.t.Helper()
	r := evalJS[*frameRect](tb, fmt.Sprintf(`perfprobeFlame.rect(%s, %s)`, strconv.Quote(name), strconv.Quote(where)))
	if r == nil {
		tb.t.Fatalf("frame %q in %q was not drawn", name, where)
	}
	return *r
}

// hover moves the mouse onto the frame and returns the tooltip's text.
func (tb *browserTab) hover(name, where string) string {
	tb.t.Helper()
	x, y := tb.rect(name, where).centre()
	tb.do(chromedp.MouseEvent(input.DispatchMouseEventTypeMouseMoved, x, y))
	if evalJS[bool](tb, `document.getElementById('tooltip').hidden`) {
		tb.t.Fatalf("no tooltip over %q", name)
	}
	return evalJS[string](tb, `document.getElementById('tooltip').innerText`)
}

// pixel reads the colour the canvas holds near the right end of the frame
// (clear of its label), as rgb(r,g,b).
func (tb *browserTab) pixel(name, where string) string {
	tb.t.Helper()
	r := tb.rect(name, where)
	canvas := map[string]string{"": "flame", "callers": "callers", "callees": "callees"}[where]
	return evalJS[string](tb, fmt.Sprintf(`(() => {
		const c = document.getElementById(%q), b = c.getBoundingClientRect(), k = c.width / b.width;
		const d = c.getContext('2d').getImageData(Math.floor((%f - b.left) * k), Math.floor((%f - b.top) * k), 1, 1).data;
		return 'rgb(' + d[0] + ',' + d[1] + ',' + d[2] + ')';
	})()`, canvas, r.X+r.W-3, r.Y+3))
}

func parseRGB(t *testing.T, s string) (r, g, b int) {
	t.Helper()
	m := regexp.MustCompile(`^rgb\((\d+),(\d+),(\d+)\)$`).FindStringSubmatch(s)
	if m == nil {
		t.Fatalf("colour %q is not rgb(r,g,b)", s)
	}
	r, _ = strconv.Atoi(m[1])
	g, _ = strconv.Atoi(m[2])
	b, _ = strconv.Atoi(m[3])
	return r, g, b
}

func htmlPage(t *testing.T, p *profile.Profile, opt HTMLOptions) string {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteHTML(&buf, p, opt); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

func wantState[T comparable](t *testing.T, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

func nearly(a, b float64) bool { return math.Abs(a-b) < 1e-6 }

func TestBrowser(t *testing.T) {
	browser := startBrowser(t)
	treePage := htmlPage(t, treeFixture(), HTMLOptions{Title: "tree fixture"})

	t.Run("views", func(t *testing.T) {
		tb := openPage(t, browser, treePage)
		st := tb.state()
		wantState(t, "type", st.Type, "oncpu")
		wantState(t, "types", strings.Join(st.Types, ","), "oncpu,offcpu_blocked,samples")
		wantState(t, "view", st.View, "flame")
		wantState(t, "total", st.TotalText, "100 ms")
		wantState(t, "totalFrames", st.TotalFrames, 9)
		wantState(t, "drawnFrames", st.DrawnFrames, 9) // nothing is too narrow at 1200 px
		wantState(t, "table rows", st.TableRows, 6)    // main funcA funcB memcpy funcC funcD
		if st.ZoomedTo != nil || st.MatchedShare != nil {
			t.Errorf("fresh page zoomed to %v, matched %v", st.ZoomedTo, st.MatchedShare)
		}
		// Flame: the root is at the bottom, callees above their callers.
		if main, a := tb.rect("main", ""), tb.rect("funcA", ""); !(main.Y > a.Y) {
			t.Errorf("flame view: main at y=%v is not below funcA at y=%v", main.Y, a.Y)
		}
		tb.do(chromedp.Click(chromedp.CSS("#view-icicle")))
		st = tb.state()
		wantState(t, "view after clicking Icicle", st.View, "icicle")
		wantState(t, "drawnFrames (icicle)", st.DrawnFrames, 9)
		if main, a := tb.rect("main", ""), tb.rect("funcA", ""); !(main.Y < a.Y) {
			t.Errorf("icicle view: main at y=%v is not above funcA at y=%v", main.Y, a.Y)
		}
		tb.call(`setView('flame')`)
		wantState(t, "view", tb.state().View, "flame")

		// The canvas holds the colours the hook reports, where it reports them.
		for _, name := range []string{"funcD", "funcA", "all"} {
			if got, want := tb.pixel(name, ""), tb.frame(name, "").Colour; got != want {
				t.Errorf("canvas at %s is %s, want %s", name, got, want)
			}
		}

		text := tb.hover("funcB", "") // the first funcB: main;funcA;funcB, 30 ms with its callees
		for _, want := range []string{"funcB", "Total: 30.0 ms (30.0% of oncpu)", "Self: 20.0 ms (20.0%)"} {
			if !strings.Contains(text, want) {
				t.Errorf("tooltip %q lacks %q", text, want)
			}
		}
	})

	// The findings listed above the graph: a click shows the finding's
	// sample type and zooms to the frame it names on its proving stack.
	t.Run("findings", func(t *testing.T) {
		page := htmlPage(t, treeFixture(), HTMLOptions{Title: "findings", Findings: []Finding{
			{Severity: "warning", Title: "funcD is hot", Detail: "50% of oncpu", Type: "oncpu", Path: []string{"main", "funcC", "funcD"}, Focus: "funcC"},
			{Severity: "critical", Title: "blocked in schedule", Detail: "300 ms", Type: "offcpu_blocked", Path: []string{"main", "funcE", "schedule_[k]"}},
			{Severity: "info", Title: "no stack", Detail: "nothing to show"},
		}})
		tb := openPage(t, browser, page)
		wantState(t, "findings", tb.state().Findings, 3)
		if n := evalJS[float64](tb, `document.querySelectorAll('#findings-list button').length`); n != 3 {
			t.Fatalf("%v finding buttons, want 3", n)
		}
		if text := evalJS[string](tb, `document.getElementById('findings-list').textContent`); !strings.Contains(text, "WARNING: funcD is hot 50% of oncpu") {
			t.Errorf("findings list %q", text)
		}
		tb.do(chromedp.Click(chromedp.CSS("#findings-list li:nth-child(1) button")))
		st := tb.state()
		wantState(t, "type after the first finding", st.Type, "oncpu")
		if st.ZoomedTo == nil || *st.ZoomedTo != "funcC" {
			t.Errorf("zoomed to %v, want funcC (the finding's focus)", st.ZoomedTo)
		}
		tb.do(chromedp.Click(chromedp.CSS("#findings-list li:nth-child(2) button")))
		st = tb.state()
		wantState(t, "type after the second finding", st.Type, "offcpu_blocked")
		if st.ZoomedTo == nil || *st.ZoomedTo != "schedule_[k]" {
			t.Errorf("zoomed to %v, want schedule_[k] (the deepest frame)", st.ZoomedTo)
		}
		if dis := evalJS[bool](tb, `document.querySelector('#findings-list li:nth-child(3) button').disabled`); !dis {
			t.Error("a finding without a stack has an enabled button")
		}
	})

	t.Run("hidpi", func(t *testing.T) {
		tb := openPage(t, browser, treePage, chromedp.EmulateViewport(1000, 800, chromedp.EmulateScale(2)))
		if dpr := evalJS[float64](tb, `devicePixelRatio`); dpr != 2 {
			t.Fatalf("devicePixelRatio = %v, want 2", dpr)
		}
		css := evalJS[float64](tb, `document.getElementById('flame').getBoundingClientRect().width`)
		if px := evalJS[float64](tb, `document.getElementById('flame').width`); px != 2*css {
			t.Errorf("canvas is %v device pixels for %v CSS pixels, want twice as many", px, css)
		}
		wantState(t, "drawnFrames", tb.state().DrawnFrames, 9)
		if got, want := tb.pixel("funcD", ""), tb.frame("funcD", "").Colour; got != want {
			t.Errorf("canvas at funcD is %s, want %s", got, want)
		}
		if text := tb.hover("funcD", ""); !strings.Contains(text, "Total: 50.0 ms (50.0% of oncpu)") {
			t.Errorf("tooltip %q", text)
		}
	})

	t.Run("search", func(t *testing.T) {
		tb := openPage(t, browser, treePage)
		tb.call(`search('funcB')`)
		st := tb.state()
		if st.MatchedShare == nil || !nearly(*st.MatchedShare, 40) {
			t.Errorf("matchedShare = %v, want 40 (recursion counted once)", st.MatchedShare)
		}
		wantState(t, "matchedText", st.MatchedText, "matched 40.0% of oncpu")
		wantState(t, "matchedFrames", st.MatchedFrames, 3)
		wantState(t, "highlightedFrames", st.HighlightedFrames, 3)
		wantState(t, "table rows", st.TableRows, 1)
		if dom := evalJS[string](tb, `document.getElementById('match').textContent`); dom != "matched 40.0% of oncpu" {
			t.Errorf("#match shows %q", dom)
		}
		if a, b := tb.frame("funcA", "").Colour, tb.frame("funcB", "").Colour; a == b {
			t.Errorf("funcB is not highlighted: both frames are %s", a)
		}

		tb.call(`search('/^func[BD]$/')`)
		st = tb.state()
		if st.MatchedShare == nil || !nearly(*st.MatchedShare, 90) {
			t.Errorf("regex: matchedShare = %v, want 90", st.MatchedShare)
		}
		wantState(t, "regex matchedFrames", st.MatchedFrames, 4)

		// Typing in the box takes the same path.
		tb.call(`search('')`)
		if st := tb.state(); st.MatchedShare != nil || st.HighlightedFrames != 0 || st.TableRows != 6 {
			t.Errorf("cleared search: matched %v, highlighted %d, rows %d", st.MatchedShare, st.HighlightedFrames, st.TableRows)
		}
		tb.do(chromedp.SendKeys(chromedp.CSS("#search"), "memcpy"),
			chromedp.Poll[chromedp.Void](`perfprobeFlame.state().matchedFrames === 1`, chromedp.WithPollingTimeout(5*time.Second)))
		wantState(t, "typed search", tb.state().MatchedText, "matched 5.0% of oncpu")
	})

	t.Run("types", func(t *testing.T) {
		tb := openPage(t, browser, treePage)
		if n := evalJS[int](tb, `document.getElementById('type').options.length`); n != 3 {
			t.Errorf("type select has %d options, want 3", n)
		}
		tb.call(`setType('offcpu_blocked')`)
		st := tb.state()
		wantState(t, "type", st.Type, "offcpu_blocked")
		wantState(t, "total", st.Total, 400e6)
		wantState(t, "totalText", st.TotalText, "400 ms")
		wantState(t, "totalFrames", st.TotalFrames, 6)
		wantState(t, "drawnFrames", st.DrawnFrames, 6)
		if got := evalJS[string](tb, `document.getElementById('type').value`); got != "1" {
			t.Errorf("select shows option %s, want 1", got)
		}
		if desc := evalJS[string](tb, `document.getElementById('typedesc').textContent`); !strings.Contains(desc, "Off-CPU time") {
			t.Errorf("type description %q", desc)
		}
		if k := tb.frame("schedule_[k]", ""); !nearly(k.Share, 75) {
			t.Errorf("schedule_[k] share = %v, want 75", k.Share)
		}
		tb.call(`setType('samples')`)
		st = tb.state()
		wantState(t, "samples totalText", st.TotalText, "14")
		wantState(t, "samples drawnFrames", st.DrawnFrames, 11)
	})

	t.Run("zoom", func(t *testing.T) {
		tb := openPage(t, browser, treePage)
		x, y := tb.rect("funcA", "").centre()
		tb.do(chromedp.MouseClickXY(x, y))
		st := tb.state()
		if st.ZoomedTo == nil || *st.ZoomedTo != "funcA" {
			t.Fatalf("after clicking funcA, zoomed to %v", st.ZoomedTo)
		}
		// funcA's subtree (funcA, funcB, funcB, memcpy) and its ancestors (all, main).
		wantState(t, "drawnFrames zoomed", st.DrawnFrames, 6)
		if r, w := tb.rect("funcA", ""), evalJS[float64](tb, `document.getElementById('flame').getBoundingClientRect().width`); !nearly(r.W, w) {
			t.Errorf("zoomed funcA is %v px wide, want the canvas width %v", r.W, w)
		}
		if !tb.frame("funcA", "").Drawn || tb.frame("funcD", "").Drawn {
			t.Error("zoom drew frames outside the subtree")
		}
		tb.do(chromedp.KeyEvent(kb.Escape))
		st = tb.state()
		if st.ZoomedTo != nil {
			t.Errorf("Escape left the zoom at %q", *st.ZoomedTo)
		}
		wantState(t, "drawnFrames after Escape", st.DrawnFrames, 9)

		tb.call(`zoom('funcC')`)
		wantState(t, "drawnFrames zoomed to funcC", tb.state().DrawnFrames, 5)
		tb.do(chromedp.Click(chromedp.CSS("#reset")))
		if st := tb.state(); st.ZoomedTo != nil || st.DrawnFrames != 9 {
			t.Errorf("after Reset zoom: zoomed to %v, %d frames", st.ZoomedTo, st.DrawnFrames)
		}
		tb.call(`zoom('funcC')`)
		x, y = tb.rect("all", "").centre()
		tb.do(chromedp.MouseClickXY(x, y)) // clicking the root resets
		if st := tb.state(); st.ZoomedTo != nil || st.DrawnFrames != 9 {
			t.Errorf("after clicking the root: zoomed to %v, %d frames", st.ZoomedTo, st.DrawnFrames)
		}
	})

	t.Run("sandwich", func(t *testing.T) {
		tb := openPage(t, browser, treePage)
		tb.call(`sandwich('funcB')`)
		st := tb.state()
		wantState(t, "view", st.View, "sandwich")
		sw := st.Sandwich
		if sw == nil {
			t.Fatal("no sandwich state")
		}
		wantState(t, "sandwich of", sw.Name, "funcB")
		wantState(t, "sandwich value", sw.Value, 40e6)
		wantState(t, "callers", fmt.Sprint(sw.Callers), "[{funcA 3e+07} {funcC 1e+07}]")
		wantState(t, "callees", fmt.Sprint(sw.Callees), "[{funcB 5e+06} {memcpy 5e+06}]")
		wantState(t, "caller frames", sw.CallerFrames, 5) // funcB, funcA, main, funcC, main
		wantState(t, "callee frames", sw.CalleeFrames, 3) // funcB, funcB, memcpy
		if got := evalJS[string](tb, `document.getElementById('sw-name').textContent`); got != "funcB" {
			t.Errorf("sandwich heading %q", got)
		}
		// Callers grow upwards from funcB, callees downwards.
		if f, a := tb.rect("funcB", "callers"), tb.rect("funcA", "callers"); !(a.Y < f.Y) {
			t.Errorf("callers graph: funcA (y=%v) is not above funcB (y=%v)", a.Y, f.Y)
		}
		if text := tb.hover("funcA", "callers"); !strings.Contains(text, "Total: 30.0 ms (30.0% of oncpu)") {
			t.Errorf("callers tooltip %q", text)
		}
		tb.do(chromedp.Click(chromedp.CSS("#sw-close")))
		wantState(t, "view after Back", tb.state().View, "flame")

		// The function table opens the same view.
		evalJS[any](tb, `[...document.querySelectorAll('#functions-body tr')]
			.find((r) => r.cells[0].textContent === 'funcD').querySelector('button').click()`)
		st = tb.state()
		if st.Sandwich == nil || fmt.Sprint(st.Sandwich.Callers) != "[{funcC 5e+07}]" || len(st.Sandwich.Callees) != 0 {
			t.Errorf("funcD sandwich from the table: %+v", st.Sandwich)
		}
	})

	t.Run("units", func(t *testing.T) {
		p := htmlProfile([]string{"alloc_space/bytes", "go_wall/nanoseconds", "offcpu_blocked/nanoseconds", "go_goroutines/count", "widgets/widgets"},
			htmlStack{"main;alloc", []int64{3 << 20, 1500, 0, 1_234_000, 7}},
			htmlStack{"main;wait", []int64{0, 3000, 2_500_000_000, 567, 0}},
		)
		tb := openPage(t, browser, htmlPage(t, p, HTMLOptions{}))
		for _, tc := range []struct{ typ, total, desc string }{
			{"alloc_space", "3.00 MiB", "Bytes allocated"},
			{"go_wall", "4.50 µs", "Go wall clock (fgprof): every goroutine, running or waiting"},
			{"offcpu_blocked", "2.50 s", "Off-CPU time"},
			{"go_goroutines", "1,234,567", "Goroutines"},
			{"widgets", "7 widgets", "Total 7 widgets"},
		} {
			tb.call(`setType(` + strconv.Quote(tc.typ) + `)`)
			wantState(t, tc.typ+" total", tb.state().TotalText, tc.total)
			if desc := evalJS[string](tb, `document.getElementById('typedesc').textContent`); !strings.Contains(desc, tc.desc) {
				t.Errorf("%s: description %q lacks %q", tc.typ, desc, tc.desc)
			}
		}
		tb.call(`setType('go_wall')`)
		if text := tb.hover("alloc", ""); !strings.Contains(text, "Total: 1.50 µs (33.3% of go_wall)") {
			t.Errorf("tooltip %q does not show 1.50 µs", text)
		}
	})

	t.Run("diff", func(t *testing.T) {
		base, cur := diffFixtures()
		var buf bytes.Buffer
		if err := WriteDiffHTML(&buf, base, cur, HTMLOptions{Title: "diff"}); err != nil {
			t.Fatal(err)
		}
		tb := openPage(t, browser, buf.String())
		st := tb.state()
		if !st.Diff || strings.Join(st.Types, ",") != "oncpu" {
			t.Errorf("diff %v, types %v", st.Diff, st.Types)
		}
		wantState(t, "totalFrames", st.TotalFrames, 5) // all, main, funcA, funcB, funcC; funcGone has no width
		for _, tc := range []struct {
			name                  string
			base, new, delta      float64
			red, blue, saturation bool
		}{
			{"funcA", 40, 60, 20, true, false, false},
			{"funcB", 50, 20, -30, false, true, true},
			{"funcC", 0, 20, 20, true, false, false},
			{"main", 100, 100, 0, false, false, false},
		} {
			f := tb.frame(tc.name, "")
			if !nearly(f.BaseShare, tc.base) || !nearly(f.NewShare, tc.new) || !nearly(f.DeltaPoints, tc.delta) {
				t.Errorf("%s: base %v%%, new %v%%, delta %v pts; want %v, %v, %v", tc.name, f.BaseShare, f.NewShare, f.DeltaPoints, tc.base, tc.new, tc.delta)
			}
			r, g, b := parseRGB(t, f.Colour)
			switch {
			case tc.red && !(r > b+40 && r > g+40):
				t.Errorf("%s grew but is %s, not red", tc.name, f.Colour)
			case tc.blue && !(b > r+40 && b > g+40):
				t.Errorf("%s shrank but is %s, not blue", tc.name, f.Colour)
			case !tc.red && !tc.blue && (absInt(r-b) > 10 || absInt(r-g) > 10):
				t.Errorf("%s did not change but is %s", tc.name, f.Colour)
			}
		}
		// The largest change is the strongest colour.
		ar, _, _ := parseRGB(t, tb.frame("funcA", "").Colour)
		_, bg, _ := parseRGB(t, tb.frame("funcB", "").Colour)
		_, ag, _ := parseRGB(t, tb.frame("funcA", "").Colour)
		if !(bg < ag) || ar != 255 {
			t.Errorf("funcB (-30 pts) is not more intense than funcA (+20 pts): g %d vs %d", bg, ag)
		}
		for _, name := range []string{"funcA", "funcB", "main"} {
			if got, want := tb.pixel(name, ""), tb.frame(name, "").Colour; got != want {
				t.Errorf("canvas at %s is %s, want %s", name, got, want)
			}
		}
		text := tb.hover("funcB", "")
		for _, want := range []string{"Base: 50.0%", "New: 20.0%", "Delta: -30.0 pts"} {
			if !strings.Contains(text, want) {
				t.Errorf("tooltip %q lacks %q", text, want)
			}
		}
		if evalJS[bool](tb, `document.getElementById('legend').hidden`) {
			t.Error("diff legend is hidden")
		}
		tb.call(`sandwich('funcB')`)
		if st := tb.state(); st.Sandwich == nil || st.Sandwich.Value != 100e6 {
			t.Errorf("diff sandwich: %+v", st.Sandwich)
		}
		// The base of a differential page is the other profile: no "Compare with".
		if evalJS[bool](tb, `document.getElementById('compare') !== null`) {
			t.Error("differential page has a compare select")
		}
		if evalJS[bool](tb, `perfprobeFlame.compare('oncpu')`) {
			t.Error("compare() on a differential page = true")
		}
		if st := tb.state(); st.Compare != nil || len(st.CompareTypes) != 0 || !st.Diff {
			t.Errorf("diff page: compare %v, offered %v, diff %v", st.Compare, st.CompareTypes, st.Diff)
		}
	})

	t.Run("compare", func(t *testing.T) {
		// compareFixture: oncpu against go_cpu is hash 40% -> 60% (+20 pts),
		// parse 40% -> 10% (-30 pts, the largest change), work 80% -> 70%,
		// gc 15% -> 20%, syscall_[k] 0 -> 10%, onlygo 5% -> 0.
		page := htmlPage(t, compareFixture(), HTMLOptions{Title: "compare"})
		tb := openPage(t, browser, page)
		st := tb.state()
		if st.Compare != nil || st.Diff {
			t.Errorf("fresh page: compare %v, diff %v", st.Compare, st.Diff)
		}
		// Only types of oncpu's unit (nanoseconds) are offered: not samples
		// (count) or alloc_space (bytes), nor oncpu itself.
		wantState(t, "compareTypes", strings.Join(st.CompareTypes, ","), "go_cpu,go_wall")
		wantState(t, "compare options", strings.Join(compareOptions(tb), "|"), "=nothing|1=go_cpu — 200 ms|4=go_wall — 100 ms")
		normal := map[string]string{}
		for _, name := range []string{"all", "main", "hash", "parse"} {
			normal[name] = tb.frame(name, "").Colour
		}
		allW := tb.rect("all", "").W
		if !evalJS[bool](tb, `perfprobeFlame.compare('go_cpu')`) {
			t.Fatal("compare('go_cpu') = false")
		}
		checkCompared(t, tb)
		// Widths stay oncpu's: hash is 60% wide, not go_cpu's 40%.
		if w := tb.rect("hash", "").W / allW; math.Abs(w-0.6) > 0.001 {
			t.Errorf("hash is %.3f of the width, want 0.600 (oncpu)", w)
		}
		wantState(t, "select value", evalJS[string](tb, `document.getElementById('compare').value`), "1")
		wantState(t, "fragment", evalJS[string](tb, `location.hash`), "#type=oncpu&compare=go_cpu")
		if legend := evalJS[string](tb, `document.getElementById('legend').hidden ? '' : document.getElementById('legend').textContent`); !strings.Contains(legend, "Comparing oncpu with go_cpu") {
			t.Errorf("legend %q", legend)
		}
		if desc := evalJS[string](tb, `document.getElementById('typedesc').textContent`); !strings.HasSuffix(desc, "Total 100 ms; compared with go_cpu, total 200 ms.") {
			t.Errorf("type description %q", desc)
		}

		// Search reports both shares.
		tb.call(`search('hash')`)
		wantState(t, "matchedText", tb.state().MatchedText, "matched 60.0% of oncpu (go_cpu 40.0%)")
		tb.call(`search('')`)
		// The sandwich compares too: callees of work.
		tb.call(`sandwich('work')`)
		if f := tb.frame("parse", "callees"); !nearly(f.BaseShare, 40) || !nearly(f.NewShare, 10) || !nearly(f.DeltaPoints, -30) {
			t.Errorf("sandwich parse: %+v", f)
		}
		tb.call(`closeSandwich()`)

		// Not comparable: another unit, the shown type, unknown names.
		for _, name := range []string{"samples", "alloc_space", "oncpu", "nope"} {
			if evalJS[bool](tb, `perfprobeFlame.compare(`+strconv.Quote(name)+`)`) {
				t.Errorf("compare(%q) = true", name)
			}
		}
		if st := tb.state(); st.Compare == nil || *st.Compare != "go_cpu" {
			t.Errorf("a refused compare changed it to %v", st.Compare)
		}

		// Ending the comparison keeps the zoom (same widths) and brings the
		// palette back.
		tb.call(`zoom('work')`)
		if !evalJS[bool](tb, `perfprobeFlame.compare(null)`) {
			t.Error("compare(null) = false")
		}
		st = tb.state()
		if st.Compare != nil || st.Diff || st.ZoomedTo == nil || *st.ZoomedTo != "work" {
			t.Errorf("after compare(null): compare %v, diff %v, zoomed to %v", st.Compare, st.Diff, st.ZoomedTo)
		}
		tb.call(`resetZoom()`)
		for name, want := range normal {
			if got := tb.frame(name, "").Colour; got != want {
				t.Errorf("%s is %s after compare(null), want its colour before, %s", name, got, want)
			}
			if got := tb.pixel(name, ""); got != want {
				t.Errorf("canvas at %s is %s after compare(null), want %s", name, got, want)
			}
		}
		if f := tb.frame("hash", ""); f.DeltaPoints != 0 || f.BaseShare != 0 {
			t.Errorf("hash still has base values: %+v", f)
		}
		wantState(t, "table head", tableHead(tb), "Function,Self,Self %,Total,Total %,")
		wantState(t, "legend hidden", evalJS[bool](tb, `document.getElementById('legend').hidden`), true)
		wantState(t, "fragment", evalJS[string](tb, `location.hash`), "#type=oncpu")

		// Changing the type keeps a comparison of the same unit.
		tb.call(`compare('go_cpu')`)
		tb.call(`setType('go_wall')`)
		st = tb.state()
		if st.Compare == nil || *st.Compare != "go_cpu" || st.Type != "go_wall" {
			t.Fatalf("go_wall: type %s, compare %v, want go_cpu kept", st.Type, st.Compare)
		}
		wantState(t, "compareTypes (go_wall)", strings.Join(st.CompareTypes, ","), "oncpu,go_cpu")
		if f := tb.frame("gc", ""); !nearly(f.BaseShare, 15) || !nearly(f.NewShare, 50) || !nearly(f.DeltaPoints, 35) {
			t.Errorf("gc in go_wall against go_cpu: %+v", f)
		}
		wantState(t, "fragment", evalJS[string](tb, `location.hash`), "#type=go_wall&compare=go_cpu")
		tb.call(`setType('go_cpu')`) // itself: ends
		if st := tb.state(); st.Compare != nil {
			t.Errorf("go_cpu compared with %v, want nothing", *st.Compare)
		}
		tb.call(`compare('oncpu')`)
		wantState(t, "compare go_cpu with oncpu", *tb.state().Compare, "oncpu")
		tb.call(`setType('samples')`) // another unit: ends
		st = tb.state()
		if st.Compare != nil || len(st.CompareTypes) != 0 {
			t.Errorf("samples: compare %v, offered %v", st.Compare, st.CompareTypes)
		}
		wantState(t, "compare select disabled", evalJS[bool](tb, `document.getElementById('compare').disabled`), true)
		wantState(t, "fragment", evalJS[string](tb, `location.hash`), "#type=samples")

		// The controls take the same path.
		evalJS[any](tb, `(() => {
			const s = document.getElementById('type');
			s.value = '0';
			s.dispatchEvent(new Event('change'));
			const c = document.getElementById('compare');
			c.value = [...c.options].find((o) => o.text.startsWith('go_cpu ')).value;
			c.dispatchEvent(new Event('change'));
			return null;
		})()`)
		checkCompared(t, tb)
		wantState(t, "fragment", evalJS[string](tb, `location.hash`), "#type=oncpu&compare=go_cpu")
	})

	t.Run("compare fragment", func(t *testing.T) {
		page := htmlPage(t, compareFixture(), HTMLOptions{Title: "compare"})
		tb := openPageAt(t, browser, page, "#type=oncpu&compare=go_cpu")
		checkCompared(t, tb)
		for _, name := range []string{"hash", "parse", "main"} {
			if got, want := tb.pixel(name, ""), tb.frame(name, "").Colour; got != want {
				t.Errorf("canvas at %s is %s, want %s", name, got, want)
			}
		}

		// Editing the address: names that are not types of the page, of
		// another unit, or not valid percent-encoding are ignored.
		for _, tc := range []struct{ fragment, typ, compare string }{
			{"#type=go_wall&compare=oncpu", "go_wall", "oncpu"},
			{"#type=nope&compare=alloc_space", "go_wall", ""},
			{"#type=%E0%A4%A&compare=go_cpu&x=1&&=&type", "go_wall", "go_cpu"},
			{"#type=go_cpu&compare=go_cpu", "go_cpu", ""},
			{"#compare=oncpu", "go_cpu", "oncpu"},
			{"#type=samples&compare=oncpu", "samples", ""},
		} {
			st := goToFragment(tb, tc.fragment)
			compare := ""
			if st.Compare != nil {
				compare = *st.Compare
			}
			if st.Type != tc.typ || compare != tc.compare {
				t.Errorf("%s: type %q, compare %q; want %q, %q", tc.fragment, st.Type, compare, tc.typ, tc.compare)
			}
		}

		// Opened with a broken fragment, a page shows its default; the parts
		// that name something are still followed.
		t.Run("broken", func(t *testing.T) {
			tb := openPageAt(t, browser, page, "#type=%ZZ&compare=samples&type")
			if st := tb.state(); st.Type != "oncpu" || st.Compare != nil {
				t.Errorf("broken fragment: type %s, compare %v", st.Type, st.Compare)
			}
		})
		t.Run("compare only", func(t *testing.T) {
			tb := openPageAt(t, browser, page, "#compare=go_wall")
			if st := tb.state(); st.Type != "oncpu" || st.Compare == nil || *st.Compare != "go_wall" {
				t.Errorf("#compare=go_wall: type %s, compare %v", st.Type, st.Compare)
			}
		})
	})

	t.Run("network", func(t *testing.T) {
		tb := openPage(t, browser, treePage)
		// Exercise everything; openPage's cleanup fails on any request.
		tb.call(`search('func')`)
		tb.call(`setType('samples')`)
		tb.call(`setView('icicle')`)
		tb.call(`zoom('funcC')`)
		tb.call(`sandwich('funcB')`)
		tb.hover("funcB", "callees")
		tb.b.mu.Lock()
		defer tb.b.mu.Unlock()
		if len(tb.requests) != 0 {
			t.Errorf("requests: %q", tb.requests)
		}
	})

	t.Run("xss", func(t *testing.T) {
		page := htmlPage(t, evilFixture(), HTMLOptions{Title: evilScript, Subtitle: evilImg})
		tb := openPage(t, browser, page)
		tb.call(`search('img')`)
		if st := tb.state(); st.TableRows != 1 {
			t.Errorf("search 'img' lists %d functions, want 1", st.TableRows)
		}
		tb.hover(evilImg, "")
		tb.call(`sandwich(` + strconv.Quote(evilScript) + `)`)
		st := tb.state()
		if st.Sandwich == nil || st.Sandwich.Name != evilScript || fmt.Sprint(st.Sandwich.Callees) != fmt.Sprintf("[{%s 5}]", evilImg) {
			t.Errorf("sandwich of the script name: %+v", st.Sandwich)
		}
		tb.hover(evilImg, "callees")
		tb.call(`search('')`)

		if n := evalJS[int](tb, `document.querySelectorAll('img, svg, iframe, object, embed').length`); n != 0 {
			t.Errorf("%d injected elements in the DOM", n)
		}
		if n := evalJS[int](tb, `document.scripts.length`); n != 2 {
			t.Errorf("%d script elements, want 2", n)
		}
		text := evalJS[string](tb, `document.body.innerText`)
		for _, name := range []string{evilImg, evilScript, `"quoted" & 'single' \ back`, "日本語 🔥"} {
			if !strings.Contains(text, name) {
				t.Errorf("page text lacks the literal name %q", name)
			}
		}
		if got := evalJS[string](tb, `document.title`); got != evilScript {
			t.Errorf("title = %q, want the literal %q", got, evilScript)
		}
		if got := evalJS[string](tb, `document.getElementById('tooltip').textContent`); !strings.Contains(got, evilImg) {
			t.Errorf("tooltip text %q lacks the name", got)
		}
	})

	// Sample type names are untrusted too: they reach the compare select,
	// the legend and the fragment.
	t.Run("xss types", func(t *testing.T) {
		p := htmlProfile([]string{"x/count", "y/count"},
			htmlStack{"main;a", []int64{3, 1}},
			htmlStack{"main;b", []int64{1, 3}},
		)
		p.SampleType[0].Type, p.SampleType[1].Type = evilImg, evilScript // names with '/'
		page := htmlPage(t, p, HTMLOptions{})
		tb := openPage(t, browser, page)
		wantState(t, "compare options", strings.Join(compareOptions(tb), "|"), "=nothing|1="+evilScript+" — 4")
		if !evalJS[bool](tb, `perfprobeFlame.compare(`+strconv.Quote(evilScript)+`)`) {
			t.Fatal("compare(evilScript) = false")
		}
		if f := tb.frame("a", ""); !nearly(f.DeltaPoints, 50) {
			t.Errorf("a: delta %v pts, want +50", f.DeltaPoints)
		}
		if legend := evalJS[string](tb, `document.getElementById('legend').textContent`); !strings.Contains(legend, "Comparing "+evilImg+" with "+evilScript) {
			t.Errorf("legend %q lacks the literal names", legend)
		}
		if n := evalJS[int](tb, `document.querySelectorAll('img, svg, iframe, object, embed').length + document.scripts.length`); n != 2 {
			t.Errorf("%d scripts and injected elements, want the page's 2 scripts", n)
		}
		fragment := evalJS[string](tb, `location.hash`)
		if strings.ContainsAny(fragment, "<>\" ") {
			t.Errorf("fragment %q is not percent-encoded", fragment)
		}
		// The written fragment opens the same view.
		t.Run("reopen", func(t *testing.T) {
			tb := openPageAt(t, browser, page, fragment)
			if st := tb.state(); st.Type != evilImg || st.Compare == nil || *st.Compare != evilScript {
				t.Errorf("%s: type %q, compare %v", fragment, st.Type, st.Compare)
			}
		})
	})
}

func absInt(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// checkCompared checks compareFixture's page comparing oncpu with go_cpu:
// the numbers the hook reports, the colours, the tooltip and the table.
func checkCompared(t *testing.T, tb *browserTab) {
	t.Helper()
	st := tb.state()
	if st.Type != "oncpu" || st.Compare == nil || *st.Compare != "go_cpu" || !st.Diff {
		t.Fatalf("type %s, compare %v, diff %v; want oncpu compared with go_cpu", st.Type, st.Compare, st.Diff)
	}
	wantState(t, "total", st.TotalText, "100 ms")
	wantState(t, "totalFrames", st.TotalFrames, 7) // onlygo is only in go_cpu: no width
	// Ten steps of intensity up to the largest change (30 pts): +20 pts is
	// step 7, rgb(255, 232-7*13, ...); -10 pts step 4.
	for _, tc := range []struct {
		name             string
		base, new, delta float64
		colour           string
	}{
		{"hash", 40, 60, 20, "rgb(255,141,141)"},
		{"parse", 40, 10, -30, "rgb(102,102,255)"},
		{"work", 80, 70, -10, "rgb(180,180,255)"},
		{"gc", 15, 20, 5, "rgb(255,206,206)"},
		{"syscall_[k]", 0, 10, 10, "rgb(255,180,180)"},
		{"main", 100, 100, 0, "rgb(232,232,232)"},
	} {
		f := tb.frame(tc.name, "")
		if !nearly(f.BaseShare, tc.base) || !nearly(f.NewShare, tc.new) || !nearly(f.DeltaPoints, tc.delta) {
			t.Errorf("%s: base %v%%, new %v%%, delta %v pts; want %v, %v, %v", tc.name, f.BaseShare, f.NewShare, f.DeltaPoints, tc.base, tc.new, tc.delta)
		}
		wantState(t, tc.name+" colour", f.Colour, tc.colour)
	}
	r, g, b := parseRGB(t, tb.pixel("hash", ""))
	if !(r > b+40 && r > g+40) {
		t.Errorf("canvas at hash (share grew) is rgb(%d,%d,%d), not red", r, g, b)
	}
	r, g, b = parseRGB(t, tb.pixel("parse", ""))
	if !(b > r+40 && b > g+40) {
		t.Errorf("canvas at parse (share shrank) is rgb(%d,%d,%d), not blue", r, g, b)
	}
	text := tb.hover("hash", "")
	for _, want := range []string{"Total: 60.0 ms (60.0% of oncpu)", "Base: 40.0%", "New: 60.0%", "Delta: +20.0 pts"} {
		if !strings.Contains(text, want) {
			t.Errorf("tooltip %q lacks %q", text, want)
		}
	}
	tb.do(chromedp.MouseEvent(input.DispatchMouseEventTypeMouseMoved, 1, 1))

	wantState(t, "table head", tableHead(tb), "Function,Base,New,Delta,")
	rows := evalJS[map[string]string](tb, `Object.fromEntries([...document.querySelectorAll('#functions-body tr')].map((r) =>
		[r.cells[0].textContent, [1, 2, 3].map((k) => r.cells[k].textContent).join(' ') + ' ' + r.cells[3].className]))`)
	for name, want := range map[string]string{
		"hash":        "40.0% 60.0% +20.0 pts grew",
		"parse":       "40.0% 10.0% -30.0 pts shrank",
		"work":        "80.0% 70.0% -10.0 pts shrank",
		"gc":          "15.0% 20.0% +5.0 pts grew",
		"syscall_[k]": "0.0% 10.0% +10.0 pts grew",
		"onlygo":      "5.0% 0.0% -5.0 pts shrank",
		"main":        "100.0% 100.0% +0.0 pts ",
	} {
		wantState(t, "table row "+name, rows[name], want)
	}
	wantState(t, "table rows", len(rows), 7)
	if first := evalJS[string](tb, `document.getElementById('functions-body').rows[0].cells[0].textContent`); first != "parse" {
		t.Errorf("table starts with %s, want parse (the largest change)", first)
	}
}

// compareOptions lists the compare select's options as value=text.
func compareOptions(tb *browserTab) []string {
	tb.t.Helper()
	return evalJS[[]string](tb, `[...document.getElementById('compare').options].map((o) => o.value + '=' + o.text)`)
}

func tableHead(tb *browserTab) string {
	tb.t.Helper()
	return evalJS[string](tb, `[...document.querySelectorAll('#functions-head th')].map((th) => th.textContent).join(',')`)
}

// goToFragment changes the fragment as editing the address does, waits for
// the page's hashchange handler (registered before this one) and returns the
// state.
func goToFragment(tb *browserTab, fragment string) pageState {
	tb.t.Helper()
	js := fmt.Sprintf(`new Promise((resolve) => {
		window.addEventListener('hashchange', () => resolve(true), { once: true });
		location.hash = %s;
	})`, strconv.Quote(fragment))
	if _, err := chromedp.Run(tb.ctx, chromedp.Evaluate[bool](js, chromedp.EvalAwaitPromise)); err != nil {
		tb.t.Fatalf("going to %s: %v", fragment, err)
	}
	return tb.state()
}
