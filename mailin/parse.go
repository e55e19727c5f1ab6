package mailin

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/charset" // sets message.CharsetReader: ISO-8859-x, windows-125x, KOI8-R, GBK, Shift_JIS, ISO-2022-JP, …
	"github.com/emersion/go-message/textproto"
	htmlcharset "golang.org/x/net/html/charset"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/transform"

	"github.com/escalationd/escalationd/internal/durable"
	"github.com/escalationd/escalationd/workflow"
)

// ErrMalformed marks a message that cannot be parsed at all (an unreadable
// header, or a MIME structure from which not one part could be read). The
// caller quarantines such a message; retrying cannot help.
var ErrMalformed = errors.New("mailin: malformed message")

// ParseOptions bound the parser.
type ParseOptions struct {
	SpoolDir     string // where attachment files are streamed; created if missing; "" means os.TempDir()
	MaxTextBytes int64  // cap on the body text kept in memory; 0 means 1 MiB; longer text is cut with a note
	// MaxHeaderBytes and MaxHeaderFields bound each header block (the
	// message's and each MIME part's; bytes with line ends, fields by the
	// lines that do not continue one): over either, Parse fails with
	// ErrLimit. 0 means 256 KiB and 2000 fields.
	MaxHeaderBytes  int64
	MaxHeaderFields int

	spool *durable.Dir // the Poller's spool folder, opened safely; used instead of SpoolDir
}

const (
	defaultMaxTextBytes = 1 << 20
	maxNotes            = 50
)

// Parse reads one raw RFC 5322 message from r and returns it as
// workflow.Inbound (header fields, text, attachments). It fills every Inbound
// field that comes from the message itself; the caller fills Mailbox,
// UIDValidity, UID, InternalDate, Size, RawPath, RawSHA256.
//
// Attachments are streamed to new files in opts.SpoolDir; the caller owns them
// once Parse returns without error. On error Parse removes the files it made.
// A message that cannot be parsed at all gives an error wrapping ErrMalformed;
// one over a limit (a header block over MaxHeaderBytes or MaxHeaderFields,
// more than 1,000 MIME parts, multipart nesting deeper than 32) an error
// matching ErrLimit, whose text is the reason, found while reading: a header
// block is never held whole before it is checked. An error reading r or
// writing the spool is returned wrapped as it is.
// Damage that leaves something readable (an unknown charset, a truncated
// part) is not an error: Parse keeps what it can and says so in Inbound.Notes.
func Parse(r io.Reader, opts ParseOptions) (in *workflow.Inbound, err error) {
	if opts.MaxTextBytes <= 0 {
		opts.MaxTextBytes = defaultMaxTextBytes
	}
	if opts.MaxHeaderBytes <= 0 {
		opts.MaxHeaderBytes = defaultMaxHeaderBytes
	}
	if opts.MaxHeaderFields <= 0 {
		opts.MaxHeaderFields = defaultMaxHeaderFields
	}
	spool := opts.spool
	if spool == nil {
		if spool, err = openSpool(opts.SpoolDir); err != nil {
			return nil, err
		}
		defer spool.Close()
	}

	p := &parser{opts: opts, spool: spool, src: &sourceReader{r: r}, in: &workflow.Inbound{},
		lim: &limits{maxBytes: opts.MaxHeaderBytes, maxFields: opts.MaxHeaderFields}}
	defer func() {
		// A parser bug must not take the daemon down on every restart with
		// the same message in the mailbox: turn it into a quarantine.
		if v := recover(); v != nil {
			in, err = nil, fmt.Errorf("%w: parser panic: %v", ErrMalformed, v)
		}
		if err != nil {
			p.removeSpool()
		}
	}()
	if err := p.parse(); err != nil {
		return nil, err
	}
	return p.in, nil
}

// spoolMode is the spool folder's: private to the daemon, since the
// attachments in it are not yet in an escalation.
const spoolMode = 0o700

// openSpool opens the spool folder dir (os.TempDir() when ""), creating it
// when it is missing.
func openSpool(dir string) (*durable.Dir, error) {
	if dir == "" {
		dir = os.TempDir()
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("spool dir: %w", err)
	}
	if err := os.MkdirAll(dir, spoolMode); err != nil {
		return nil, fmt.Errorf("spool dir: %w", err)
	}
	spool, err := durable.OpenRoot(dir, nil)
	if err != nil {
		return nil, fmt.Errorf("spool dir: %w", err)
	}
	return spool, nil
}

// parser holds the state of one Parse call.
type parser struct {
	opts  ParseOptions
	spool *durable.Dir
	src   *sourceReader
	in    *workflow.Inbound

	lim         *limits
	plain, html bodyText
	parts       int    // MIME parts met so far, at every level
	broken      error  // first MIME structure error met, if any
	hdrCharset  string // charset of the first labelled text part, for raw 8-bit header text
	spooled     []string

	// A delivery report (multipart/report; report-type=delivery-status):
	// its status part and the returned header, kept as read (capped).
	report               bool
	dsnStatus, dsnHeader *cappedBuffer
}

// bodyText collects the text of one kind (plain or HTML) of body part.
type bodyText struct {
	b     strings.Builder
	parts int  // parts of this kind seen (read or skipped)
	read  bool // at least one part was read into b
	cut   bool
}

// sourceReader remembers the first error other than EOF that the raw message
// reader gave, so an I/O failure is not mistaken for malformed MIME.
type sourceReader struct {
	r   io.Reader
	err error
}

func (s *sourceReader) Read(b []byte) (int, error) {
	n, err := s.r.Read(b)
	if err != nil && err != io.EOF && s.err == nil {
		s.err = err
	}
	return n, err
}

func (p *parser) parse() error {
	// go-message's own header cap (1 MiB) is lifted: the gate applies ours.
	stray := newStrayLines(p.src, p.lim.maxFields)
	e, err := message.ReadWithOptions(messageGate(stray, p.lim), &message.ReadOptions{MaxHeaderBytes: -1})
	if stray.envelope {
		p.note("leading mbox \"From \" line skipped")
	}
	if stray.dropped > 0 {
		p.note("%d line(s) in the header that are no header field skipped", stray.dropped)
	}
	if err != nil && !message.IsUnknownCharset(err) && !message.IsUnknownEncoding(err) {
		if p.src.err != nil {
			return fmt.Errorf("read message: %w", p.src.err)
		}
		if p.lim.err != nil {
			return p.lim.err
		}
		return fmt.Errorf("%w: header: %v", ErrMalformed, err)
	}
	if e.Header.Len() == 0 {
		if p.src.err != nil {
			return fmt.Errorf("read message: %w", p.src.err)
		}
		return fmt.Errorf("%w: no header fields", ErrMalformed)
	}
	if mt, params := p.mediaType("", e.Header.Get("Content-Type")); mt == "multipart/report" && strings.EqualFold(strings.TrimSpace(params["report-type"]), "delivery-status") {
		p.report = true
	}
	if err := p.walk(e, err, 0, "", nil); err != nil {
		return err
	}
	if p.dsnStatus != nil {
		var header []byte
		if p.dsnHeader != nil {
			header = p.dsnHeader.b.Bytes()
		}
		p.in.DeliveryReport = deliveryReport(p.dsnStatus.b.Bytes(), header)
	}
	if p.src.err != nil {
		return fmt.Errorf("read message: %w", p.src.err)
	}
	if p.broken != nil && !p.plain.read && !p.html.read && len(p.in.Attachments) == 0 {
		return fmt.Errorf("%w: %v", ErrMalformed, p.broken)
	}
	p.finishText()
	p.headers(e.Header)
	return nil
}

// altSeen records, for one multipart/alternative, which text types (text/plain,
// text/html) one of its parts already gave: a second one is another
// rendering of the same content.
type altSeen map[string]bool

// walk handles entity e and, for a multipart, everything below it. entErr is
// the error go-message returned with e (an unknown charset or encoding); path
// is e's part number ("" for the message, "2.1" for the first part of the
// second); alt is non-nil when e's parent is a multipart/alternative. It
// returns only errors that end the parse (I/O, spool, a limit); damage
// becomes a note.
func (p *parser) walk(e *message.Entity, entErr error, depth int, path string, alt altSeen) error {
	if e.MultipartReader() == nil {
		if err := p.leaf(e, entErr, alt); err != nil {
			return err
		}
		return p.lim.err // a gate may trip while the body is read (read-ahead)
	}
	if depth >= maxDepth {
		return p.lim.trip("MIME nesting deeper than %d levels (part %s)", maxDepth, path)
	}
	mt, params := p.mediaType("", e.Header.Get("Content-Type"))
	// go-message's boundary, unless it could not parse the Content-Type (a
	// duplicate or broken parameter): then the lenient parse's, if any.
	boundary := params["boundary"]
	if _, gmParams, err := e.Header.ContentType(); err == nil {
		boundary = gmParams["boundary"]
	}
	if strings.TrimSpace(boundary) == "" {
		// No boundary: no part can be found, and mail clients show the
		// body as it stands. So do we.
		p.note("%s without a boundary: its body read as plain text", mt)
		return p.readPlain(e, entErr, map[string]string{"charset": params["charset"]})
	}
	mr := entityParts{textproto.NewMultipartReader(partsGate(e.Body, p.lim, boundary, path), boundary)}
	var childAlt altSeen
	if mt == "multipart/alternative" {
		childAlt = altSeen{}
	}
	for n := 1; ; n++ {
		part, err := mr.NextPart()
		if err == io.EOF {
			return p.lim.err
		}
		if n == 1 && err != nil && p.lim.err == nil && p.src.err == nil && strings.HasSuffix(err.Error(), io.EOF.Error()) {
			// A multipart header and no part at all (or a preamble
			// only): clients show an empty message, and so do we.
			p.note("%s with no parts: read as an empty body", mt)
			return nil
		}
		if err != nil && !message.IsUnknownCharset(err) && !message.IsUnknownEncoding(err) {
			if p.src.err != nil {
				return fmt.Errorf("read message: %w", p.src.err)
			}
			if p.lim.err != nil {
				return p.lim.err
			}
			if p.broken == nil {
				p.broken = err
			}
			p.note("malformed MIME in %s: %v: rest of it skipped", mt, err)
			return nil
		}
		if p.parts++; p.parts > maxParts {
			return p.lim.trip("over %d MIME parts (the limit)", maxParts)
		}
		child := strconv.Itoa(n)
		if path != "" {
			child = path + "." + child
		}
		if err := p.walk(part, err, depth+1, child, childAlt); err != nil {
			return err
		}
	}
}

// entityParts reads the parts of a multipart as go-message's own
// MultipartReader does, from a reader the parser chose (a headerGate).
type entityParts struct {
	r *textproto.MultipartReader
}

func (m entityParts) NextPart() (*message.Entity, error) {
	part, err := m.r.NextPart()
	if err != nil {
		return nil, err
	}
	return message.New(message.Header{Header: part.Header}, part)
}

// leaf decides what a non-multipart entity is: body text, an alternative
// rendering of it (skipped), or an attachment. The first text/plain and the
// first text/html part that are not attachments start the plain and the HTML
// body; later unnamed ones are appended (mail clients split text around
// inline images), unless their multipart/alternative already gave one. Any
// other part, text/calendar and text/csv included, is an attachment.
func (p *parser) leaf(e *message.Entity, entErr error, alt altSeen) error {
	h := e.Header
	mt, ctParams := p.mediaType("Content-Type", h.Get("Content-Type"))
	if mt == "" {
		mt = "text/plain" // RFC 2045 §5.2
	}
	disp, dParams := p.mediaType("Content-Disposition", h.Get("Content-Disposition"))
	name := dParams["filename"]
	if name == "" {
		name = ctParams["name"]
	}
	if p.report {
		// The parts of a delivery report are kept as attachments; what
		// they say is read as they are spooled.
		switch mt {
		case "message/delivery-status", "message/global-delivery-status":
			if p.dsnStatus == nil {
				p.dsnStatus = &cappedBuffer{max: maxDSNBytes}
				e.Body = io.TeeReader(e.Body, p.dsnStatus)
			}
		case "text/rfc822-headers", "message/rfc822", "message/global", "message/global-headers":
			if p.dsnHeader == nil {
				p.dsnHeader = &cappedBuffer{max: maxDSNBytes}
				e.Body = io.TeeReader(e.Body, p.dsnHeader)
			}
		}
	}
	if disp == "attachment" {
		return p.attach(e, mt, name)
	}
	switch mt {
	case "text/plain", "text/html":
		t := &p.plain
		if mt == "text/html" {
			t = &p.html
		}
		switch {
		case t.parts > 0 && name != "":
			return p.attach(e, mt, name) // a named text file, not the body
		case alt != nil && alt[mt]:
			return nil // another rendering of what this alternative gave
		}
		t.parts++
		if alt != nil {
			alt[mt] = true
		}
		if mt == "text/plain" {
			return p.readPlain(e, entErr, ctParams)
		}
		if strings.TrimSpace(p.plain.b.String()) != "" {
			return nil // the plain text wins; no need to convert
		}
		return p.readHTML(e, entErr, ctParams)
	}
	return p.attach(e, mt, name)
}

// partText is the decoded source of one text part.
type partText struct {
	r       io.Reader
	fix     func([]byte) string // turns what r gave into valid UTF-8, noting any guess
	unknown bool                // the charset is unknown: r gives the bytes as received
	label   string              // the charset label, lower case; "" when none
}

// textSource works out how to turn a text part's body into UTF-8. go-message
// decodes the transfer encoding and any charset it knows; this covers what it
// leaves undone.
func (p *parser) textSource(e *message.Entity, entErr error, mt string, params map[string]string) partText {
	label := strings.ToLower(strings.TrimSpace(params["charset"]))
	_, gmParams, gmErr := e.Header.ContentType()
	t := partText{r: e.Body, label: label, unknown: message.IsUnknownCharset(entErr)}
	switch {
	case label == "" || label == "utf-8" || label == "us-ascii":
	case gmErr != nil:
		// go-message could not parse Content-Type, so it decoded no charset.
		if r, err := charset.Reader(label, e.Body); err == nil {
			t.r = r
		} else {
			t.unknown = true
		}
	case gmParams["charset"] == "":
		t.label = "" // a charset go-message did not see: treat as none
	}
	switch {
	case t.unknown:
		t.fix = func(b []byte) string {
			s, latin1 := asReceived(b)
			if latin1 {
				p.note("unknown charset %q in %s: shown as received (read as Latin-1)", label, mt)
			} else {
				p.note("unknown charset %q in %s: shown as received", label, mt)
			}
			return s
		}
	case t.label == "" || t.label == "us-ascii":
		t.fix = func(b []byte) string {
			if utf8.Valid(b) {
				return string(b)
			}
			p.note("8-bit text in %s without a charset: read as windows-1252", mt)
			s, _ := charmap.Windows1252.NewDecoder().Bytes(b)
			return string(s)
		}
	default:
		if p.hdrCharset == "" && t.label != "utf-8" {
			p.hdrCharset = t.label
		}
		t.fix = func(b []byte) string {
			if utf8.Valid(b) {
				return string(b)
			}
			p.note("invalid UTF-8 in %s (charset %q): replaced with U+FFFD", mt, label)
			return strings.ToValidUTF8(string(b), "\uFFFD")
		}
	}
	return t
}

// checkEncoding notes a Content-Transfer-Encoding go-message cannot decode:
// the body then comes as received.
func (p *parser) checkEncoding(h message.Header, what, outcome string) {
	if cte := strings.ToLower(strings.TrimSpace(h.Get("Content-Transfer-Encoding"))); !knownEncoding(cte) {
		p.note("unknown transfer encoding %q in %s: %s as received", cte, what, outcome)
	}
}

func knownEncoding(cte string) bool {
	switch cte {
	case "", "7bit", "8bit", "binary", "base64", "quoted-printable":
		return true
	}
	return false
}

// readPlain reads a text/plain part into p.plain, up to the text cap.
func (p *parser) readPlain(e *message.Entity, entErr error, params map[string]string) error {
	if p.plain.cut {
		return nil
	}
	p.checkEncoding(e.Header, "text/plain", "shown")
	src := p.textSource(e, entErr, "text/plain", params)
	room := p.room(&p.plain)
	b, total, rerr := readCapped(src.r, room)
	if total > room {
		b = dropPartialRune(b)
	}
	if rerr != nil {
		if p.src.err != nil {
			return fmt.Errorf("read message: %w", p.src.err)
		}
		p.note("damaged text/plain part: %v: kept what was readable", rerr)
	}
	text := tidyText(src.fix(b), false)
	p.add(&p.plain, text, total > room)
	return nil
}

// readHTML converts a text/html part to text into p.html, up to the text cap.
func (p *parser) readHTML(e *message.Entity, entErr error, params map[string]string) error {
	if p.html.cut {
		return nil
	}
	p.checkEncoding(e.Header, "text/html", "shown")
	src := p.textSource(e, entErr, "text/html", params)
	r := src.r
	if src.label == "" || src.unknown {
		// No usable MIME charset: take a <meta charset>, else UTF-8 when
		// the start is valid UTF-8, else windows-1252, as browsers do.
		if src.unknown {
			p.note("unknown charset %q in text/html: charset taken from the HTML or guessed", src.label)
		}
		br := bufio.NewReaderSize(r, 1024)
		head, _ := br.Peek(1024) // a read error shows again below
		r = br
		if enc, _, _ := htmlcharset.DetermineEncoding(head, "text/html"); enc != nil {
			r = transform.NewReader(br, enc.NewDecoder())
		}
	}
	room := p.room(&p.html)
	text, cut, rerr := htmlToText(r, int(room))
	if rerr != nil {
		if p.src.err != nil {
			return fmt.Errorf("read message: %w", p.src.err)
		}
		p.note("damaged text/html part: %v: kept what was readable", rerr)
	}
	p.add(&p.html, strings.ToValidUTF8(text, "\uFFFD"), cut)
	return nil
}

// room is how many more bytes of text t may take.
func (p *parser) room(t *bodyText) int64 {
	n := p.opts.MaxTextBytes - int64(t.b.Len())
	if t.read {
		n -= 2 // the blank line between parts
	}
	return max(n, 0)
}

// add appends one part's text to t, cut to the room left.
func (p *parser) add(t *bodyText, text string, cut bool) {
	text = strings.Trim(text, "\n")
	room := p.room(t)
	if int64(len(text)) > room {
		text, cut = cutUTF8(text, int(room)), true
	}
	if t.read && text != "" {
		if t.b.Len() > 0 {
			t.b.WriteString("\n\n")
		}
	}
	t.b.WriteString(text)
	t.read = true
	if cut && !t.cut {
		t.cut = true
		p.note("body text longer than %d bytes: cut", p.opts.MaxTextBytes)
	}
}

// finishText picks the body: text/plain when it has any text, else the text
// of the HTML part.
func (p *parser) finishText() {
	t := &p.plain
	if strings.TrimSpace(p.plain.b.String()) == "" && p.html.read {
		t = &p.html
		p.in.TextFromHTML = true
	}
	text := strings.Trim(t.b.String(), "\n")
	if t.cut {
		text += "\n\n[… text cut: longer than " + fmt.Sprint(p.opts.MaxTextBytes) + " bytes]"
	}
	p.in.Text = text
}

// attach streams a part's body to a new spool file.
func (p *parser) attach(e *message.Entity, mt, name string) error {
	if !strings.Contains(mt, "/") {
		mt = "application/octet-stream"
	}
	label := fmt.Sprintf("attachment %q (%s)", name, mt)
	p.checkEncoding(e.Header, label, "saved")
	// FileMode, not CreateTemp's 0600: the file becomes the attachment in
	// escalation.dir by a rename, mode and all. The spool folder is private.
	f, err := p.spool.CreateTemp("att-", "", durable.FileMode)
	if err != nil {
		return fmt.Errorf("spool attachment: %w", err)
	}
	p.spooled = append(p.spooled, f.Name())
	body := &errReader{r: e.Body}
	// Buffered: a decoder hands out a few hundred bytes per Read, and a
	// write per Read was most of the system calls of a large attachment.
	// (bufio.Writer's own ReadFrom would hand the copy straight to the
	// file, unbuffered: only its Write is used.)
	w := bufio.NewWriterSize(f, 64<<10)
	n, err := io.Copy(struct{ io.Writer }{w}, body)
	if ferr := w.Flush(); ferr != nil {
		f.Close()
		return fmt.Errorf("spool attachment: %w", ferr)
	}
	if cerr := f.Close(); err == nil && cerr != nil {
		return fmt.Errorf("spool attachment: %w", cerr)
	}
	if err != nil {
		switch {
		case p.src.err != nil:
			return fmt.Errorf("read message: %w", p.src.err)
		case body.err == nil: // the write failed
			return fmt.Errorf("spool attachment: %w", err)
		}
		p.note("%s is damaged: %v: kept the %d bytes read", label, err, n)
	}
	p.in.Attachments = append(p.in.Attachments, workflow.Attachment{
		Name:        name,
		ContentType: mt,
		Size:        n,
		Path:        f.Name(),
	})
	return nil
}

// errReader remembers the error its reader gave, to tell read errors from
// write errors after io.Copy.
type errReader struct {
	r   io.Reader
	err error
}

func (e *errReader) Read(b []byte) (int, error) {
	n, err := e.r.Read(b)
	if err != nil && err != io.EOF {
		e.err = err
	}
	return n, err
}

func (p *parser) removeSpool() {
	for _, name := range p.spooled {
		os.Remove(name) // best effort; the file may never have been written
	}
	p.spooled = nil
}

// note adds a parser remark once.
func (p *parser) note(format string, args ...any) {
	s := fmt.Sprintf(format, args...)
	for _, n := range p.in.Notes {
		if n == s {
			return
		}
	}
	switch {
	case len(p.in.Notes) < maxNotes:
		p.in.Notes = append(p.in.Notes, s)
	case len(p.in.Notes) == maxNotes:
		p.in.Notes = append(p.in.Notes, "more notes left out")
	}
}

// readCapped reads up to max bytes from r and counts, without keeping, the
// rest. total is every byte r gave.
func readCapped(r io.Reader, max int64) (b []byte, total int64, err error) {
	var buf bytes.Buffer
	n, err := io.Copy(&buf, io.LimitReader(r, max))
	total = n
	if err == nil && n == max {
		var rest int64
		rest, err = io.Copy(io.Discard, r)
		total += rest
	}
	return buf.Bytes(), total, err
}

// asReceived turns bytes of an unknown charset into text: as UTF-8 when they
// are valid UTF-8, else byte by byte as Latin-1 (so nothing is lost).
func asReceived(b []byte) (s string, latin1 bool) {
	if utf8.Valid(b) {
		return string(b), false
	}
	s, _ = charmap.ISO8859_1.NewDecoder().String(string(b))
	return s, true
}

// dropPartialRune drops a UTF-8 sequence left incomplete at the end of b by a
// cut.
func dropPartialRune(b []byte) []byte {
	for i := len(b) - 1; i >= 0 && i >= len(b)-utf8.UTFMax; i-- {
		if utf8.RuneStart(b[i]) {
			if !utf8.FullRune(b[i:]) {
				return b[:i]
			}
			break
		}
	}
	return b
}

// cutUTF8 returns the longest prefix of s of at most n bytes that does not
// split a character.
func cutUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// tidyText normalises line endings to \n, drops control characters other
// than tab, trims trailing blanks from every line and, when collapse is set,
// keeps at most one blank line in a row.
//
// It does not use workflow.ControlRune, the set for one-line values: a body
// keeps its line breaks and tabs, form feed and vertical tab become line
// breaks, and only C0 and DEL are dropped here. C1 and U+2028/U+2029 stay,
// as they did: the tracking file, where a body is written, folds them
// (workflow's markdown quoting uses ControlRune).
func tidyText(s string, collapse bool) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	s = strings.Map(func(r rune) rune {
		if r == '\n' || r == '\t' || (r >= 0x20 && r != 0x7f) {
			return r
		}
		if r == '\f' || r == '\v' {
			return '\n'
		}
		return -1
	}, s)
	lines := strings.Split(s, "\n")
	out := lines[:0]
	blank := 0
	for _, l := range lines {
		if l != "-- " { // the signature separator keeps its space (RFC 3676 §4.3)
			l = strings.TrimRight(l, " \t")
		}
		if l == "" {
			blank++
			if collapse && blank > 1 {
				continue
			}
		} else {
			blank = 0
		}
		out = append(out, l)
	}
	return strings.Join(out, "\n")
}

// maxDSNBytes caps what is kept in memory of a delivery report's status part
// and of the header it returns.
const maxDSNBytes = 64 << 10

// cappedBuffer keeps the first max bytes written to it and accepts the rest
// without keeping it.
type cappedBuffer struct {
	b   bytes.Buffer
	max int
}

func (c *cappedBuffer) Write(b []byte) (int, error) {
	if room := c.max - c.b.Len(); room > 0 {
		c.b.Write(b[:min(len(b), room)])
	}
	return len(b), nil
}

// deliveryReport reads a message/delivery-status part (RFC 3464: a block of
// per-message fields, then one block per recipient) and the header of the
// returned message. It reports the first recipient whose delivery failed,
// else the first recipient; nil when no recipient is named.
func deliveryReport(status, header []byte) *workflow.DeliveryReport {
	var r *workflow.DeliveryReport
	for _, f := range dsnBlocks(status) {
		rcpt := dsnTyped(f["original-recipient"])
		if rcpt == "" {
			rcpt = dsnTyped(f["final-recipient"])
		}
		if rcpt == "" {
			continue
		}
		cand := &workflow.DeliveryReport{
			Recipient:  strings.Trim(rcpt, "<> "),
			Action:     strings.ToLower(strings.TrimSpace(f["action"])),
			Status:     strings.TrimSpace(f["status"]),
			Diagnostic: dsnTyped(f["diagnostic-code"]),
		}
		if r == nil || !r.Failed() && cand.Failed() {
			r = cand
		}
	}
	if r == nil {
		return nil
	}
	if blocks := dsnBlocks(header); len(blocks) > 0 {
		if ids := msgIDs(blocks[0]["message-id"]); len(ids) > 0 {
			r.OriginalMessageID = ids[0]
		}
	}
	return r
}

// dsnBlocks splits header-like text into blocks of fields (names lower case,
// folded lines unfolded, the first occurrence of a name kept), one block per
// run of lines between blank lines.
func dsnBlocks(b []byte) []map[string]string {
	var blocks []map[string]string
	var cur map[string]string
	last := ""
	for _, line := range strings.Split(strings.ReplaceAll(string(b), "\r\n", "\n"), "\n") {
		line = strings.TrimRight(line, "\r")
		if strings.TrimSpace(line) == "" {
			cur, last = nil, ""
			continue
		}
		if (line[0] == ' ' || line[0] == '\t') && cur != nil && last != "" {
			cur[last] += " " + strings.TrimSpace(line)
			continue
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			last = ""
			continue
		}
		if cur == nil {
			cur = map[string]string{}
			blocks = append(blocks, cur)
		}
		last = strings.ToLower(strings.TrimSpace(name))
		if _, seen := cur[last]; seen {
			last = "" // keep the first; skip this one's continuation lines
			continue
		}
		cur[last] = strings.TrimSpace(value)
	}
	for _, bl := range blocks {
		for k, v := range bl {
			bl[k] = oneLine(strings.ToValidUTF8(strings.Join(strings.Fields(v), " "), "\uFFFD"))
		}
	}
	return blocks
}

// dsnTyped drops the type of a typed DSN field ("rfc822; a@b", "smtp; 550 …").
func dsnTyped(v string) string {
	if _, rest, ok := strings.Cut(v, ";"); ok {
		return strings.TrimSpace(rest)
	}
	return strings.TrimSpace(v)
}
