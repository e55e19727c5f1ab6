package workflow

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// render rewrites the tracking file of escalation id from the store and
// records the version it shows. When it fails, the change stays committed;
// RenderBehind or RenderStale write the file later.
func (e *Engine) render(ctx context.Context, id int64) error {
	e.renderMu.Lock()
	defer e.renderMu.Unlock()
	v, version, err := e.loadView(ctx, id)
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrRender, e.Tag(id), err)
	}
	// WriteFileAtomic's error names the path.
	if err := WriteFileAtomic(e.TrackingPath(id), RenderTracking(v, e.loc), 0o644); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrRender, e.Tag(id), err)
	}
	if _, err := e.st.db.ExecContext(ctx, `UPDATE escalations SET rendered_version = ? WHERE id = ? AND rendered_version < ?`, version, id, version); err != nil {
		return fmt.Errorf("%w: %s: store: %w", ErrRender, e.Tag(id), err)
	}
	return nil
}

// RenderStale rewrites every tracking file that is missing or older than its
// escalation in the store (after a crash, or a disk that was full), after
// removing the temp files of writes a crash cut short. It returns how many
// it wrote.
func (e *Engine) RenderStale(ctx context.Context) (int, error) {
	e.sweepTemps()
	return e.renderStale(ctx, true)
}

// sweepTemps removes what a crash (SIGKILL, power loss) in the middle of
// WriteFileAtomic leaves in escalation.dir: ".ESC-00042-tracking.md.*.tmp".
// The tracking file it was to replace is still whole, and its
// rendered_version was not advanced, so RenderStale writes it again. Best
// effort: a file that cannot be removed (read-only disk) stays for the next
// start. Held under renderMu, so no write of this process is in flight.
func (e *Engine) sweepTemps() {
	e.renderMu.Lock()
	defer e.renderMu.Unlock()
	left, _ := filepath.Glob(filepath.Join(e.cfg.Escalation.Dir, "."+e.cfg.Escalation.IDPrefix+"-*-tracking.md.*.tmp"))
	removed := 0
	for _, f := range left {
		if os.Remove(f) == nil {
			removed++
		}
	}
	if removed > 0 {
		e.log.Info("removed temp files of tracking-file writes cut short by a crash", "count", removed, "dir", e.cfg.Escalation.Dir)
	}
}

// RenderBehind rewrites the tracking files that are older than their
// escalation in the store: changes committed while their file could not be
// written (a full or read-only disk), also by the outbox sender. Unlike
// RenderStale it does not look for missing files, so it is cheap enough to
// run on every cycle. It returns how many it wrote.
func (e *Engine) RenderBehind(ctx context.Context) (int, error) { return e.renderStale(ctx, false) }

func (e *Engine) renderStale(ctx context.Context, checkFiles bool) (int, error) {
	query := `SELECT id, version, rendered_version FROM escalations ORDER BY id`
	if !checkFiles {
		query = `SELECT id, version, rendered_version FROM escalations WHERE rendered_version < version ORDER BY id`
	}
	rows, err := e.st.db.QueryContext(ctx, query)
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
			if _, err := os.Stat(e.TrackingPath(id)); errors.Is(err, os.ErrNotExist) {
				stale = append(stale, id)
			}
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	for i, id := range stale {
		if err := e.render(ctx, id); err != nil {
			return i, err
		}
	}
	return len(stale), nil
}

// View reads what the tracking file of escalation id shows.
func (e *Engine) View(ctx context.Context, id int64) (*View, error) {
	v, _, err := e.loadView(ctx, id)
	return v, err
}

func (e *Engine) loadView(ctx context.Context, id int64) (*View, int64, error) {
	tx, err := e.st.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, 0, err
	}
	defer tx.Rollback()
	v := &View{ID: id, Tag: e.Tag(id)}
	var typ, status string
	var opened, levelChanged, nextUpdate, version int64
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
	rows, err := tx.Query(`SELECT at, text, actor FROM timeline WHERE esc_id = ? ORDER BY at, id`, id)
	if err != nil {
		return nil, 0, err
	}
	for rows.Next() {
		var t TimelineEntry
		var at int64
		if err := rows.Scan(&at, &t.Text, &t.Actor); err != nil {
			rows.Close()
			return nil, 0, err
		}
		t.At = fromMS(at)
		v.Timeline = append(v.Timeline, t)
	}
	rows.Close()
	rows, err = tx.Query(`SELECT text, owner, done FROM actions WHERE esc_id = ? ORDER BY seq`, id)
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
	atts := map[int64][]LoggedAttachment{}
	rows, err = tx.Query(`SELECT log_id, name, rel_path, size FROM attachments WHERE esc_id = ? ORDER BY id`, id)
	if err != nil {
		return nil, 0, err
	}
	for rows.Next() {
		var logID int64
		var a LoggedAttachment
		if err := rows.Scan(&logID, &a.Name, &a.RelPath, &a.Size); err != nil {
			rows.Close()
			return nil, 0, err
		}
		atts[logID] = append(atts[logID], a)
	}
	rows.Close()
	rows, err = tx.Query(`SELECT id, at, inbound, from_name, from_email, recipients, subject, text, note FROM log WHERE esc_id = ? ORDER BY at, id`, id)
	if err != nil {
		return nil, 0, err
	}
	for rows.Next() {
		var l LogEntry
		var logID, at int64
		var rcpts string
		if err := rows.Scan(&logID, &at, &l.Inbound, &l.From.Name, &l.From.Email, &rcpts, &l.Subject, &l.Text, &l.Note); err != nil {
			rows.Close()
			return nil, 0, err
		}
		l.At = fromMS(at)
		if err := json.Unmarshal([]byte(rcpts), &l.To); err != nil {
			rows.Close()
			return nil, 0, fmt.Errorf("log entry %d: recipients: %w", logID, err)
		}
		l.Attachments = atts[logID]
		v.Log = append(v.Log, l)
	}
	rows.Close()
	return v, version, rows.Err()
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

func strings1(tx *sql.Tx, query string, args ...any) ([]string, error) {
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
