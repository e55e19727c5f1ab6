package workflow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
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
				if _, err := tx.Exec(`UPDATE escalations SET rendered_version = ? WHERE id = ? AND rendered_version < ?`, w.version, w.id, w.version); err != nil {
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
	checkFiles := which == missing
	query := `SELECT id, version, rendered_version FROM escalations ORDER BY id`
	switch which {
	case behind:
		query = `SELECT id, version, rendered_version FROM escalations WHERE rendered_version < version ORDER BY id`
	case settled:
		query = `SELECT id, version, rendered_version FROM escalations WHERE rendered_version < version
			AND id NOT IN (SELECT esc_id FROM outbox WHERE status = 'queued') ORDER BY id`
	}
	rows, err := e.db().QueryContext(ctx, query)
	if err != nil {
		return 0, fmt.Errorf("store: list escalations: %w", err)
	}
	var stale []int64
	for rows.Next() {
		var id, version, rendered int64
		if err := rows.Scan(&id, &version, &rendered); err != nil {
			rows.Close()
			return 0, err
		}
		switch {
		case rendered < version:
			stale = append(stale, id)
		case checkFiles:
			// Not there, or not the daemon's regular file (a symlink).
			if fi, err := os.Lstat(e.TrackingPath(id)); errors.Is(err, os.ErrNotExist) || err == nil && !fi.Mode().IsRegular() {
				stale = append(stale, id)
			}
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	if err := e.renderLocked(ctx, stale...); err != nil {
		return 0, err
	}
	return len(stale), nil
}

// View reads what the tracking file of escalation id shows.
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
	v := &View{ID: id, Tag: e.Tag(id)}
	var typ, status string
	var opened, levelChanged, nextUpdate, version int64
	var err error
	var checklist int
	var resolvedAt int64
	err = tx.QueryRow(`SELECT type, level, status, customer_name, customer_email, subject, owner, opened_at, level_changed_at, next_update_at, checklist, version, resolved_at
		FROM escalations WHERE id = ?`, id).Scan(&typ, &v.Level, &status, &v.CustomerName, &v.CustomerEmail, &v.Subject, &v.Owner,
		&opened, &levelChanged, &nextUpdate, &checklist, &version, &resolvedAt)
	if err != nil {
		return nil, 0, fmt.Errorf("read escalation %d: %w", id, err)
	}
	v.Type, v.Status = Type(typ), Status(status)
	v.Opened, v.NextUpdateDue = fromMS(opened), fromMS(nextUpdate)
	for i := range v.Checklist {
		v.Checklist[i] = checklist&(1<<i) != 0
	}
	now := e.now()
	if v.Status == StatusResolved && resolvedAt != 0 {
		now = fromMS(resolvedAt) // the SLA clock stopped at resolution
	}
	v.SLA = e.sla(v.Type)
	if v.SLA > 0 {
		v.SLAConsumed = int(now.Sub(fromMS(levelChanged)) * 100 / v.SLA)
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

	if v.Reasons, err = strings1(tx, `SELECT text FROM reasons WHERE esc_id = ? ORDER BY seq`, id); err != nil {
		return nil, 0, err
	}
	if v.Plan, err = strings1(tx, `SELECT text FROM plan WHERE esc_id = ? ORDER BY seq`, id); err != nil {
		return nil, 0, err
	}
	rows, err := tx.Query(`SELECT text, owner, done FROM actions WHERE esc_id = ? ORDER BY seq`, id)
	if err != nil {
		return nil, 0, err
	}
	for rows.Next() {
		var a Action
		if err := rows.Scan(&a.Text, &a.Owner, &a.Done); err != nil {
			rows.Close()
			return nil, 0, err
		}
		v.Actions = append(v.Actions, a)
	}
	rows.Close()
	if forRender {
		err = e.loadSections(tx, v)
	} else {
		v.Timeline, _, err = loadTimeline(tx, id, beforeAll)
		if err == nil {
			v.Log, _, err = loadLog(tx, id, beforeAll)
		}
	}
	if err != nil {
		return nil, 0, err
	}
	return v, version, nil
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

func strings1(tx Tx, query string, args ...any) ([]string, error) {
	rows, err := tx.Query(query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// pos is where an entry sorts in its section: by time, then by row id.
type pos struct{ at, id int64 }

// beforeAll sorts before every entry.
var beforeAll = pos{at: math.MinInt64}

// loadTimeline reads the timeline entries of escalation id after p, in file
// order, and the position of the last one (p when there is none).
func loadTimeline(tx Tx, id int64, p pos) ([]TimelineEntry, pos, error) {
	rows, err := tx.Query(`SELECT id, at, text, actor FROM timeline WHERE esc_id = ? AND (at > ? OR (at = ? AND id > ?)) ORDER BY at, id`,
		id, p.at, p.at, p.id)
	if err != nil {
		return nil, p, err
	}
	defer rows.Close()
	var out []TimelineEntry
	for rows.Next() {
		var t TimelineEntry
		if err := rows.Scan(&p.id, &p.at, &t.Text, &t.Actor); err != nil {
			return nil, p, err
		}
		t.At = fromMS(p.at)
		out = append(out, t)
	}
	return out, p, rows.Err()
}

// loadLog reads the communication log entries of escalation id after p, in
// file order, and the position of the last one (p when there is none).
func loadLog(tx Tx, id int64, p pos) ([]LogEntry, pos, error) {
	rows, err := tx.Query(`SELECT id, at, inbound, from_name, from_email, recipients, subject, text, note FROM log
		WHERE esc_id = ? AND (at > ? OR (at = ? AND id > ?)) ORDER BY at, id`, id, p.at, p.at, p.id)
	if err != nil {
		return nil, p, err
	}
	var out []LogEntry
	var ids []int64
	for rows.Next() {
		var l LogEntry
		var rcpts string
		if err := rows.Scan(&p.id, &p.at, &l.Inbound, &l.From.Name, &l.From.Email, &rcpts, &l.Subject, &l.Text, &l.Note); err != nil {
			rows.Close()
			return nil, p, err
		}
		l.At = fromMS(p.at)
		if err := json.Unmarshal([]byte(rcpts), &l.To); err != nil {
			rows.Close()
			return nil, p, fmt.Errorf("log entry %d: recipients: %w", p.id, err)
		}
		out = append(out, l)
		ids = append(ids, p.id)
	}
	rows.Close()
	if err := rows.Err(); err != nil || len(out) == 0 {
		return out, p, err
	}
	// The attachments of these entries: their row ids are at least the
	// smallest entry id read.
	rows, err = tx.Query(`SELECT log_id, name, rel_path, size FROM attachments WHERE esc_id = ? AND log_id >= ? ORDER BY id`, id, slices.Min(ids))
	if err != nil {
		return nil, p, err
	}
	defer rows.Close()
	index := make(map[int64]int, len(ids))
	for i, logID := range ids {
		index[logID] = i
	}
	for rows.Next() {
		var logID int64
		var a LoggedAttachment
		if err := rows.Scan(&logID, &a.Name, &a.RelPath, &a.Size); err != nil {
			return nil, p, err
		}
		if i, ok := index[logID]; ok {
			out[i].Attachments = append(out[i].Attachments, a)
		}
	}
	return out, p, rows.Err()
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
	timelineEnd pos
	log         []byte
	logN        int
	logEnd      pos
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
		var nt, nl int
		err := tx.QueryRow(`SELECT (SELECT count(*) FROM timeline WHERE esc_id = ?1 AND (at < ?2 OR (at = ?2 AND id <= ?3))),
			(SELECT count(*) FROM log WHERE esc_id = ?1 AND (at < ?4 OR (at = ?4 AND id <= ?5)))`,
			v.ID, k.timelineEnd.at, k.timelineEnd.id, k.logEnd.at, k.logEnd.id).Scan(&nt, &nl)
		if err != nil {
			return err
		}
		if nt != k.timelineN || nl != k.logN {
			c.drop(v.ID) // an entry sorts before the kept ones: start over
			k = nil
		}
	}
	from := &kept{timelineEnd: beforeAll, logEnd: beforeAll}
	if k != nil {
		from = k
	}
	timeline, tEnd, err := loadTimeline(tx, v.ID, from.timelineEnd)
	if err != nil {
		return err
	}
	log, lEnd, err := loadLog(tx, v.ID, from.logEnd)
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
