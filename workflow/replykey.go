package workflow

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"os"
	"strings"
	"time"
)

// Reply keys (§11): every mail to a staff address carries, in its Reply-To,
// the escalation's plus-address with a key made for that person:
// escalations+ESC-00042.k7q2m9x4ta3c@example.com. A message delivered to such
// an address whose From is the address the key was made for is authenticated
// for that escalation, whatever its other headers say: only the daemon's
// secret makes keys, and only the person it wrote to learns theirs.

// replyKeyLen is the length of a key: 12 base32 characters, 60 bits.
const replyKeyLen = 12

// replyKeyGrace is how long keys made with a retired secret stay valid.
const replyKeyGrace = 7 * 24 * time.Hour

// minSecretBytes is the shortest secret accepted from reply_key_secret_file.
const minSecretBytes = 16

var keyEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// replyKeys holds the secrets keys are made and checked with.
type replyKeys struct {
	current []byte
	older   [][]byte // retired less than replyKeyGrace ago: still accepted
}

// key is the reply key of recipient for the escalation tagged tag.
func (k replyKeys) key(tag, recipient string) string { return makeKey(k.current, tag, recipient) }

// valid reports whether key was made for recipient and tag with a secret
// still accepted.
func (k replyKeys) valid(key, tag, recipient string) bool {
	if len(key) != replyKeyLen {
		return false
	}
	for _, s := range append([][]byte{k.current}, k.older...) {
		if s != nil && hmac.Equal([]byte(makeKey(s, tag, recipient)), []byte(strings.ToLower(key))) {
			return true
		}
	}
	return false
}

func makeKey(secret []byte, tag, recipient string) string {
	m := hmac.New(sha256.New, secret)
	fmt.Fprintf(m, "escalationd reply key v1\x00%s\x00%s", strings.ToUpper(tag), strings.ToLower(strings.TrimSpace(recipient)))
	return keyEncoding.EncodeToString(m.Sum(nil))[:replyKeyLen]
}

// loadReplyKeys reads the reply-key secrets from the store. With a secret
// file, its content is the current secret: a content the store has not seen
// retires the one before (a rotation), whose keys stay valid for
// replyKeyGrace. Without one, the daemon generates a secret at first start
// and keeps it.
func loadReplyKeys(ctx context.Context, st Store, file string, now time.Time) (replyKeys, error) {
	var want []byte
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return replyKeys{}, fmt.Errorf("staff.reply_key_secret_file: %w", err)
		}
		want = bytes.TrimSpace(b)
		if len(want) < minSecretBytes {
			return replyKeys{}, fmt.Errorf("staff.reply_key_secret_file %s: %d bytes, want at least %d (e.g. head -c 32 /dev/urandom | base64)", file, len(want), minSecretBytes)
		}
	}
	var keys replyKeys
	err := st.Update(ctx, func(tx Tx) error {
		curID, cur, _, err := tx.ReplyKeySecret()
		if err != nil {
			return err
		}
		switch {
		case cur != nil && (want == nil || bytes.Equal(cur, want)):
		case cur == nil && want == nil:
			want = make([]byte, 32)
			rand.Read(want)
			fallthrough
		default:
			if cur != nil {
				if err := tx.RetireReplyKeySecret(curID, now); err != nil {
					return err
				}
			}
			if err := tx.AddReplyKeySecret(want, now); err != nil {
				return err
			}
			cur = want
		}
		keys.current = cur
		keys.older, err = tx.RetiredReplyKeySecrets(now.Add(-replyKeyGrace))
		return err
	})
	return keys, err
}

// replyAddress is the Reply-To of mail to recipient about escalation tag:
// the keyed plus-address when recipient is staff, else the plain one.
func (e *Engine) replyAddress(tag, recipient string) string {
	if !e.isStaff(recipient) {
		return e.plusAddress(tag)
	}
	a := e.cfg.Escalation.Address
	i := strings.LastIndexByte(a, '@')
	if i < 0 {
		return e.plusAddress(tag)
	}
	return a[:i] + "+" + tag + "." + e.keys.key(tag, recipient) + a[i:]
}

// keyAuthenticated reports whether in was delivered to a keyed reply
// address of escalation id made for its From address.
func (e *Engine) keyAuthenticated(in *Inbound, id int64) bool {
	tag := e.Tag(id)
	for _, a := range in.recipients() {
		n, key, ok := e.router.plusKey(a)
		if ok && n == id && key != "" && e.keys.valid(key, tag, in.From.Email) {
			return true
		}
	}
	return false
}

// recipients are the addresses in was delivered to: To, Cc, Delivered-To and
// X-Original-To.
func (in *Inbound) recipients() []string {
	var out []string
	for _, a := range in.To {
		out = append(out, a.Email)
	}
	for _, a := range in.Cc {
		out = append(out, a.Email)
	}
	return append(out, in.DeliveredTo...)
}
