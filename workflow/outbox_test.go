package workflow

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

// stuckStore holds the first commit of a flush's results until release is
// closed, then fails it with fail, or commits it when fail is nil: the
// senders meanwhile fill every slot and wait for one.
type stuckStore struct {
	Store
	release chan struct{}
	fail    error
}

func (s *stuckStore) Update(ctx context.Context, fn func(Tx) error) error {
	<-s.release
	if s.fail != nil {
		return s.fail
	}
	return s.Store.Update(ctx, fn)
}

// slotMailer accepts every mail and counts them; full is closed when the
// MaxUnrecorded-th goes out, when every slot is held.
type slotMailer struct {
	sent int
	full chan struct{}
}

func (m *slotMailer) SendEach(_ context.Context, msgs []*Outgoing, report func(int, error) bool) {
	for i := range msgs {
		m.sent++
		if m.sent == MaxUnrecorded {
			close(m.full)
		}
		if !report(i, nil) {
			return
		}
	}
}

// queueForOneConnection queues between MaxUnrecorded+2 mails and one
// connection's worth (a flush sends them over a single connection).
func queueForOneConnection(t *testing.T, e *Engine) int {
	t.Helper()
	for i := 0; len(queuedKind(t, e, "")) < MaxUnrecorded+2; i++ {
		ingest(t, e, msg(fmt.Sprintf("user%d@acme.test", i), "Outage", fmt.Sprintf("slot%d", i), nil))
	}
	n := len(queuedKind(t, e, ""))
	if len(splitForConnections(make([]queued, n))) != 1 {
		t.Fatalf("%d mails queued: more than one connection", n)
	}
	return n
}

// A sender that waited for a slot while the recorder failed sends nothing
// more: each mail it sent would go out again on the next flush, beyond the
// MaxUnrecorded bound.
func TestFlushStopsWhenTheRecorderFails(t *testing.T) {
	e, _ := newTestEngine(t, nil)
	n := queueForOneConnection(t, e)
	st := &stuckStore{Store: e.st, release: make(chan struct{}), fail: errors.New("disk full")}
	e.st = st
	m := &slotMailer{full: make(chan struct{})}
	go func() {
		<-m.full
		close(st.release)
	}()
	_, err := e.FlushOutbox(context.Background(), m, true)
	if !errors.Is(err, st.fail) {
		t.Fatalf("flush: %v, want the commit's error", err)
	}
	if m.sent != MaxUnrecorded {
		t.Errorf("%d of %d mails sent with their results unrecorded, want at most MaxUnrecorded (%d)", m.sent, n, MaxUnrecorded)
	}
}

// A sender that waited for a slot while shutdown began sends nothing more.
func TestFlushStopsAtShutdownWhileWaitingForASlot(t *testing.T) {
	e, _ := newTestEngine(t, nil)
	queueForOneConnection(t, e)
	st := &stuckStore{Store: e.st, release: make(chan struct{})}
	e.st = st
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	m := &slotMailer{full: make(chan struct{})}
	go func() {
		<-m.full
		cancel()
		close(st.release)
	}()
	stats, _ := e.FlushOutbox(ctx, m, true) // the error, if any, is shutdown's
	if m.sent != MaxUnrecorded || stats.Sent != MaxUnrecorded {
		t.Errorf("%d mails sent (%d counted) after shutdown began while every slot was held, want the %d already out", m.sent, stats.Sent, MaxUnrecorded)
	}
}
