package workflow

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/escalationd/escalationd/internal/durable"
)

// renderBatchBytes bounds the tracking-file text one render batch holds in
// memory before it commits what it has.
const renderBatchBytes = 8 << 20

// render rewrites the tracking files of escalations ids from the store, in
// batches that share one sync (durable.Batch), and records the version each
// file shows. When it fails, the changes stay committed; RenderBehind or
// RenderStale write the files that are behind later.
func (e *Engine) render(ctx context.Context, ids ...int64) error {
	if len(ids) == 0 {
		return nil
	}
	e.renderMu.Lock()
	defer e.renderMu.Unlock()
	return e.renderLocked(ctx, ids...)
}

// renderLocked is render for a caller that holds renderMu. It is a pipeline
// of two: this goroutine reads each escalation from the store and renders
// its text while a writer puts the texts before it into temp files, so the
// store and the file system work at the same time.
func (e *Engine) renderLocked(ctx context.Context, ids ...int64) error {
	if len(ids) == 0 {
		return nil
	}
	texts := make(chan trackingText, 16)
	var failed atomic.Bool
	written := make(chan error, 1)
	go func() {
		err := e.writeTracking(ctx, texts)
		if err != nil {
			failed.Store(true)
			for range texts { // let the reader finish
			}
		}
		written <- err
	}()
	var readErr error
	for _, id := range ids {
		if failed.Load() {
			break
		}
		v, version, err := e.loadView(ctx, id, true)
		if err != nil {
			readErr = fmt.Errorf("%w: %s: %w", ErrRender, e.Tag(id), err)
			break
		}
		texts <- trackingText{id: id, version: version, data: RenderTracking(v, e.loc)}
	}
	close(texts)
	return errors.Join(readErr, <-written)
}

// trackingText is a rendered tracking file and the store version it shows.
type trackingText struct {
	id, version int64
	data        []byte
}

// writeTracking writes the tracking-file texts it receives, in batches that
// share one sync (durable.Batch) and hold at most renderBatchBytes, and
// records the version each file shows. It stops at the first error; the
// files written before it are in place and recorded.
func (e *Engine) writeTracking(ctx context.Context, texts <-chan trackingText) error {
	root, err := e.openDir()
	if err != nil {
		return fmt.Errorf("%w: %w", ErrRender, err)
	}
	defer root.Close()
	var batch durable.Batch
	defer batch.Abort()
	type version struct{ id, version int64 }
	var done []version
	size := 0
	commit := func() error {
		if err := batch.Commit(); err != nil {
			// The error names the file.
			return fmt.Errorf("%w: %w", ErrRender, err)
		}
		err := e.st.Update(ctx, func(tx Tx) error {
			for _, w := range done {
				if err := tx.SetRendered(w.id, w.version); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("%w: store: %w", ErrRender, err)
		}
		done, size = done[:0], 0
		return nil
	}
	for t := range texts {
		if err := batch.Write(root, e.trackingName(t.id), t.data, durable.FileMode); err != nil {
			return errors.Join(fmt.Errorf("%w: %s: %w", ErrRender, e.Tag(t.id), err), commit())
		}
		done = append(done, version{t.id, t.version})
		if size += len(t.data); size >= renderBatchBytes {
			if err := commit(); err != nil {
				return err
			}
		}
	}
	return commit()
}

// RenderStale rewrites every tracking file that is missing or older than its
// escalation in the store (after a crash, or a disk that was full), after
// removing the temp files of writes a crash cut short. It returns how many
// it wrote.
func (e *Engine) RenderStale(ctx context.Context) (int, error) {
	e.sweepTemps()
	return e.renderStale(ctx, missing)
}

// sweepTemps removes what a crash (SIGKILL, power loss) in the middle of
// a tracking-file write leaves in escalation.dir: ".ESC-00042-tracking.md.*.tmp".
// The tracking file it was to replace is still whole, and its
// rendered_version was not advanced, so RenderStale writes it again. Best
// effort: a file that cannot be removed (read-only disk) stays for the next
// start. Held under renderMu, so no write of this process is in flight.
func (e *Engine) sweepTemps() {
	e.renderMu.Lock()
	defer e.renderMu.Unlock()
	root, err := durable.OpenRoot(e.cfg.Escalation.Dir, e.log)
	if err != nil {
		return
	}
	defer root.Close()
	removed := root.RemoveMatching("." + e.cfg.Escalation.IDPrefix + "-*-tracking.md.*.tmp")
	if removed > 0 {
		e.log.Info("removed temp files of tracking-file writes cut short by a crash", "count", removed, "dir", e.cfg.Escalation.Dir)
	}
}

// RenderBehind rewrites the tracking files that are older than their
// escalation in the store: changes committed while their file could not be
// written (a full or read-only disk), also by the outbox sender. Unlike
// RenderStale it does not look for missing files, so it is cheap enough to
// run on every cycle. It returns how many it wrote.
func (e *Engine) RenderBehind(ctx context.Context) (int, error) { return e.renderStale(ctx, behind) }

// RenderSettled is RenderBehind for the escalations with no mail waiting
// in the outbox: `once` writes them while the last of the mail goes out,
// so that those files are not written again once it has.
func (e *Engine) RenderSettled(ctx context.Context) (int, error) { return e.renderStale(ctx, settled) }

// Which escalations renderStale looks at.
const (
	missing = iota // every one: behind, or its file is missing
	behind         // behind the store
	settled        // behind the store, with no mail queued
)

func (e *Engine) renderStale(ctx context.Context, which int) (int, error) {
	// Held from the listing to the last file: a second caller waits, then
	// finds nothing behind instead of writing the same files again.
	e.renderMu.Lock()
	defer e.renderMu.Unlock()
	var states []TrackingState
	err := e.st.Read(ctx, func(tx Tx) error {
		var err error
		switch which {
		case missing:
			states, err = tx.TrackingStates()
		case behind:
			states, err = tx.Behind()
		case settled:
			states, err = tx.BehindSettled()
		}
		return err
	})
	if err != nil {
		return 0, err
	}
	var stale []int64
	for _, s := range states {
		switch {
		case s.Rendered < s.Version:
			stale = append(stale, s.ID)
		case which == missing:
			// Not there, or not the daemon's regular file (a symlink).
			if fi, err := os.Lstat(e.TrackingPath(s.ID)); errors.Is(err, os.ErrNotExist) || err == nil && !fi.Mode().IsRegular() {
				stale = append(stale, s.ID)
			}
		}
	}
	if err := e.renderLocked(ctx, stale...); err != nil {
		return 0, err
	}
	return len(stale), nil
}

// View reads what the tracking file of escalation id shows; ErrNotFound
// when there is none.
func (e *Engine) View(ctx context.Context, id int64) (*View, error) {
	v, _, err := e.loadView(ctx, id, false)
	return v, err
}

// loadView reads escalation id and the store version it is at. forRender
// lets log entries come as blocks rendered before (logBlocks), for
// RenderTracking only.
func (e *Engine) loadView(ctx context.Context, id int64, forRender bool) (*View, int64, error) {
	var v *View
	var version int64
	err := e.st.Read(ctx, func(tx Tx) error {
		var err error
		v, version, err = e.readView(tx, id, forRender)
		return err
	})
	if err != nil {
		return nil, 0, err
	}
	return v, version, nil
}

func (e *Engine) readView(tx Tx, id int64, forRender bool) (*View, int64, error) {
	h, err := tx.ViewHead(id)
	if err != nil {
		return nil, 0, err // it names the escalation
	}
	v := &View{ID: id, Tag: e.Tag(id), Type: h.Type, Level: h.Level, Status: h.Status,
		CustomerName: h.CustomerName, CustomerEmail: h.CustomerEmail, Subject: h.Subject, Owner: h.Owner,
		Opened: h.Opened, NextUpdateDue: h.NextUpdate}
	for i := range v.Checklist {
		v.Checklist[i] = h.Checklist&(1<<i) != 0
	}
	now := e.now()
	if v.Status == StatusResolved && !h.ResolvedAt.IsZero() {
		now = h.ResolvedAt // the SLA clock stopped at resolution
	}
	v.SLA = e.sla(v.Type)
	if v.SLA > 0 {
		v.SLAConsumed = int(now.Sub(h.LevelChanged) * 100 / v.SLA)
		v.SLAConsumed = max(v.SLAConsumed, 0)
	}
	v.Overdue = v.Status != StatusResolved && !v.NextUpdateDue.IsZero() && now.After(v.NextUpdateDue)
	if v.Owner == "" {
		for _, c := range e.cfg.Roster.Contacts(string(v.Type), v.Level) {
			if i := strings.IndexByte(c.Email, '@'); i > 0 {
				v.Owner = "@" + c.Email[:i]
				break
			}
		}
	}

	if v.Reasons, err = tx.Reasons(id); err != nil {
		return nil, 0, err
	}
	if v.Plan, err = tx.Plan(id); err != nil {
		return nil, 0, err
	}
	if v.Actions, err = tx.Actions(id); err != nil {
		return nil, 0, err
	}
	if forRender {
		err = e.loadSections(tx, v)
	} else {
		v.Timeline, _, err = tx.TimelineAfter(id, Position{})
		if err == nil {
			v.Log, _, err = tx.LogAfter(id, Position{})
		}
	}
	if err != nil {
		return nil, 0, err
	}
	return v, h.Version, nil
}

func (e *Engine) sla(t Type) time.Duration {
	switch t {
	case Executive:
		return e.cfg.Escalation.SLA.Executive
	case Vendor:
		return e.cfg.Escalation.SLA.Vendor
	}
	return e.cfg.Escalation.SLA.Technical
}

// Long escalations keep the rendered bodies of their Timeline and
// Communication Log sections in memory: entries are only ever added, so
// rewriting the tracking file of an escalation with thousands of messages
// reads and escapes only the entries added since.
const (
	longSection  = 200      // entries from which a section is kept
	keptMaxBytes = 32 << 20 // rendered text kept, all escalations together
)

// kept is the rendered sections of one long escalation, and how far they go.
type kept struct {
	timeline    []byte
	timelineDay string // the last day heading in timeline
	timelineN   int
	timelineEnd Position
	log         []byte
	logN        int
	logEnd      Position
}

func (k *kept) size() int { return len(k.timeline) + len(k.log) }

// sectionCache is the kept sections of long escalations, used under
// renderMu.
type sectionCache struct {
	byEsc map[int64]*kept
	order []int64 // escalations, the first kept first: evicted first
	bytes int
}

// loadSections reads the timeline and communication log of v for
// rendering. For a long escalation it starts from the kept text when the
// store still holds exactly the entries it was made of, and reads only the
// entries after them.
func (e *Engine) loadSections(tx Tx, v *View) error {
	c := &e.sections
	k := c.byEsc[v.ID]
	if k != nil {
		nt, nl, err := tx.CountThrough(v.ID, k.timelineEnd, k.logEnd)
		if err != nil {
			return err
		}
		if nt != k.timelineN || nl != k.logN {
			c.drop(v.ID) // an entry sorts before the kept ones: start over
			k = nil
		}
	}
	from := &kept{} // the zero Positions: before every entry
	if k != nil {
		from = k
	}
	timeline, tEnd, err := tx.TimelineAfter(v.ID, from.timelineEnd)
	if err != nil {
		return err
	}
	log, lEnd, err := tx.LogAfter(v.ID, from.logEnd)
	if err != nil {
		return err
	}
	if k == nil && len(timeline) < longSection && len(log) < longSection {
		v.Timeline, v.Log = timeline, log
		return nil
	}
	next := &kept{timelineN: from.timelineN + len(timeline), timelineEnd: tEnd, logN: from.logN + len(log), logEnd: lEnd}
	next.timeline, next.timelineDay = appendTimeline(from.timeline, from.timelineDay, timeline, e.loc)
	next.log = appendLog(from.log, log, e.loc)
	v.timelineText, v.logText = next.timeline, next.log
	c.put(v.ID, next)
	return nil
}

func (c *sectionCache) put(id int64, k *kept) {
	if c.byEsc == nil {
		c.byEsc = map[int64]*kept{}
	}
	if old, ok := c.byEsc[id]; ok {
		c.bytes -= old.size()
	} else {
		c.order = append(c.order, id)
	}
	c.byEsc[id] = k
	c.bytes += k.size()
	for c.bytes > keptMaxBytes && len(c.order) > 1 && c.order[0] != id {
		c.drop(c.order[0])
	}
}

func (c *sectionCache) drop(id int64) {
	k, ok := c.byEsc[id]
	if !ok {
		return
	}
	c.bytes -= k.size()
	delete(c.byEsc, id)
	c.order = slices.DeleteFunc(c.order, func(x int64) bool { return x == id })
}
