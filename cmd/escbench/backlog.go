package main

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	mrand "math/rand/v2"
	"strings"
	"time"
)

// gen makes the backlog. Of each ten messages six are new requests (each
// from its own cust+NNNNN@acme.test), three reply by tag to an earlier
// request and one replies by In-Reply-To only; one in fifty carries a 1 MiB
// attachment. On a fresh store request number r becomes ESC-r.
type gen struct {
	sender   func(r int) string // the address of request r
	rng      *mrand.Rand
	requests int // requests made so far
	tagged   int
	threaded int
	attached int
	now      time.Time
}

func newGen(sender func(int) string) *gen {
	return &gen{sender: sender, rng: mrand.New(mrand.NewPCG(1, 2)), now: time.Now()}
}

// sender is the address of request r against the in-process servers.
func sender(r int) string { return fmt.Sprintf("cust+%05d@acme.test", r) }

func (g *gen) next(i int) []byte {
	attach := 0
	if i%50 == 25 {
		attach = 1 << 20
		g.attached++
	}
	switch k := i % 10; {
	case k < 6 || g.requests == 0:
		g.requests++
		r := g.requests
		return request(r, g.sender(r), fmt.Sprintf("<req-%d@acme.test>", r), fmt.Sprintf("Sync worker fails on node %d", r), "", "", g.now, attach)
	case k < 9:
		g.tagged++
		r := 1 + g.rng.IntN(g.requests)
		return request(r, g.sender(r), fmt.Sprintf("<tag-%d@acme.test>", i), fmt.Sprintf("Re: Sync worker fails on node %d [ESC-%05d]", r, r), "", "", g.now, attach)
	default:
		g.threaded++
		r := 1 + g.rng.IntN(g.requests)
		ref := fmt.Sprintf("<req-%d@acme.test>", r)
		return request(r, g.sender(r), fmt.Sprintf("<irt-%d@acme.test>", i), fmt.Sprintf("Re: Sync worker fails on node %d", r), ref, ref, g.now, attach)
	}
}

// mix describes what the generator has made, for the table's notes.
func (g *gen) mix() string {
	return fmt.Sprintf("%d new, %d by tag, %d by In-Reply-To, %d × 1 MiB attachment", g.requests, g.tagged, g.threaded, g.attached)
}

// request is one plain mail, multipart with an application/octet-stream
// attachment of attach random bytes when attach > 0.
func request(r int, from, msgID, subject, inReplyTo, refs string, date time.Time, attach int) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "From: Customer %d <%s>\r\n", r, from)
	b.WriteString("To: Escalations <escalations@example.com>\r\n")
	fmt.Fprintf(&b, "Subject: %s\r\n", subject)
	fmt.Fprintf(&b, "Date: %s\r\n", date.Format(time.RFC1123Z))
	fmt.Fprintf(&b, "Message-ID: %s\r\n", msgID)
	if inReplyTo != "" {
		fmt.Fprintf(&b, "In-Reply-To: %s\r\nReferences: %s\r\n", inReplyTo, refs)
	}
	b.WriteString("MIME-Version: 1.0\r\n")
	text := fmt.Sprintf("Hello,\r\n\r\nthe sync worker on node %d fails with HTTP 500 since 09:14 UTC.\r\n"+
		"Orders are not exported. Logs show a deadlock on table orders.\r\n\r\nRegards,\r\nCustomer %d\r\n", r, r)
	if attach == 0 {
		b.WriteString("Content-Type: text/plain; charset=utf-8\r\n\r\n")
		b.WriteString(text)
		return []byte(b.String())
	}
	b.WriteString("Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n")
	b.WriteString("--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n")
	b.WriteString(text)
	writeAttachment(&b, attach)
	b.WriteString("\r\n--b1--\r\n")
	return []byte(b.String())
}

// writeAttachment writes a part of size random bytes, base64 in lines of
// 76 characters, without the line break after the last one.
func writeAttachment(b *strings.Builder, size int) {
	b.WriteString("--b1\r\nContent-Type: application/octet-stream\r\n" +
		"Content-Disposition: attachment; filename=\"dump.bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\n")
	raw := make([]byte, size)
	_, _ = rand.Read(raw)
	enc := base64.StdEncoding.EncodeToString(raw)
	for len(enc) > 76 {
		b.WriteString(enc[:76])
		b.WriteString("\r\n")
		enc = enc[76:]
	}
	b.WriteString(enc)
}
