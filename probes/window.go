package probes

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
)

// Window is a probe's current window in its WINDOW_MAP (bpf/common.h), for
// rolling windows: what the programs aggregate goes to the slots and keys
// of window Index, 0 or 1. Next moves them to the other window.
type Window struct {
	outer  *ebpf.Map
	inners [2]*ebpf.Map // the inner array holding each index; [0] is the collection's
	Index  uint32
}

// NewWindow takes the loaded `window` map of maps and its first inner
// array (`window0`, holding 0), and makes the array for window 1.
func NewWindow(outer, first *ebpf.Map) (*Window, error) {
	second, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.Array, KeySize: 4, ValueSize: 4, MaxEntries: 1, Flags: first.Flags()})
	if err != nil {
		return nil, fmt.Errorf("creating the second window: %w", err)
	}
	if err := second.Put(uint32(0), uint32(1)); err != nil {
		second.Close()
		return nil, fmt.Errorf("creating the second window: %w", err)
	}
	return &Window{outer: outer, inners: [2]*ebpf.Map{first, second}}, nil
}

// Next starts the other window and returns the index of the one that
// ended. It returns once no program still runs with the old window (the
// kernel waits for the programs running when it updates a map of maps), so
// what the old window's slots and keys hold is final: the caller reads it
// and clears it before the window after next uses them again.
func (w *Window) Next() (uint32, error) {
	next := w.Index ^ 1
	if err := w.outer.Update(uint32(0), w.inners[next], ebpf.UpdateAny); err != nil {
		return 0, fmt.Errorf("switching windows: %w", err)
	}
	old := w.Index
	w.Index = next
	return old, nil
}

// Close frees the array Window made.
func (w *Window) Close() error {
	if w == nil {
		return nil
	}
	return w.inners[1].Close()
}

// DeleteKeys deletes keys from m (a window's keys once read): in one call
// where the kernel batches (Linux 5.6+), else one by one.
func DeleteKeys[K any](m *ebpf.Map, keys []K) {
	if len(keys) == 0 {
		return
	}
	if _, err := m.BatchDelete(keys, nil); err == nil {
		return
	}
	for _, k := range keys {
		_ = m.Delete(k)
	}
}

// Entries reads every entry of hash map m: in batches of a few hundred
// where the kernel can (Linux 5.6+), else one by one (two syscalls an
// entry).
func Entries[K, V any](m *ebpf.Map) ([]K, []V, error) {
	var (
		keys   []K
		vals   []V
		cursor ebpf.MapBatchCursor
		kb, vb = make([]K, 256), make([]V, 256)
	)
	for {
		n, err := m.BatchLookup(&cursor, kb, vb, nil)
		keys, vals = append(keys, kb[:n]...), append(vals, vb[:n]...)
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			return keys, vals, nil
		}
		if err != nil {
			break // no batches here, or a bucket larger than a batch
		}
	}
	keys, vals = keys[:0], vals[:0]
	var (
		k K
		v V
	)
	it := m.Iterate()
	for it.Next(&k, &v) {
		keys, vals = append(keys, k), append(vals, v)
	}
	return keys, vals, it.Err()
}
