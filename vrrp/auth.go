package vrrp

import (
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/vigil-lb/vigil/vrrp/advert"
)

// Auth is a VRRPv2 instance's authentication, as keepalived's authentication block sets
// it (docs/reference.md, keepalived's authentication). The zero value is none.
type Auth struct {
	Type advert.AuthType `json:"type"`
	// Key is the password. It never leaves the process: it prints as "<redacted>" and is
	// not in the JSON form (vrrptest/vrrpd takes it from its environment).
	Key advert.Key `json:"-"`
}

func (a Auth) validate(c *Config) []error {
	switch a.Type {
	case advert.AuthNone:
		if a.Key != (advert.Key{}) {
			return []error{errors.New("a password without an authentication type")}
		}
		return nil
	case advert.AuthPass, advert.AuthAH:
	default:
		return []error{fmt.Errorf("authentication type %d: none, pass or ah", a.Type)}
	}
	var errs []error
	if c.Version != 2 {
		errs = append(errs, fmt.Errorf("authentication %s with version %d: RFC 5798 §9 removed authentication from VRRPv3; use version 2", a.Type, c.Version))
	}
	if a.Key == (advert.Key{}) {
		errs = append(errs, fmt.Errorf("authentication %s without a password", a.Type))
	}
	return errs
}

// reasonNotVRRP marks an AH datagram that does not carry VRRP: not an advert, so neither
// counted nor logged.
const reasonNotVRRP advert.Reason = "\x00not VRRP"

// authState is what the runner keeps for authentication.
type authState struct {
	// seq is keepalived's one AH counter per instance: the highest sequence number
	// accepted, and the last one sent. A router that heard N sends N+1, so a peer that
	// has seen N accepts it; an advert at or below it is a replay and dropped.
	seq  uint32
	ipID uint16 // the IPv4 identification of AH datagrams, which the ICV covers
	log  logLimit
}

// nextAH advances the sequence number and identification for one round of adverts
// (every unicast peer gets the same, as from keepalived). At 2^32-2 the sequence number
// stops: a peer then drops this router's adverts as replays and takes over, keepalived's
// rule too; at one advert a second that takes 136 years.
func (s *authState) nextAH() {
	if s.seq < 0xfffffffe {
		s.seq++
	}
	s.ipID++
	if s.ipID == 0 {
		s.ipID = 1 // the kernel would fill in 0 after the ICV was computed
	}
}

// stamp sets a v2 advert's authentication fields: the password for PASS, the type for AH.
func (a Auth) stamp(adv *advert.Advert) {
	adv.Auth = a.Type
	if a.Type == advert.AuthPass {
		adv.AuthData = a.Key
	}
}

// transmit sends one marshalled advert to dst: as is, or sealed in AH.
func (r *runner) transmit(msg []byte, dst netip.Addr) error {
	in := r.in
	if in.cfg.Auth.Type != advert.AuthAH {
		return in.deps.Transport.Send(msg, dst)
	}
	pkt, err := advert.SealAH(msg, r.src, dst, r.auth.ipID, r.auth.seq, in.cfg.Auth.Key, len(in.cfg.UnicastPeers) > 0)
	if err != nil {
		return err
	}
	return in.deps.Transport.SendAH(pkt, dst)
}

// unwrapAH returns the VRRP message of a packet: the payload itself, or what an AH
// datagram carries.
func unwrapAH(p Packet) (advert.AH, []byte, advert.Reason) {
	if !p.AH {
		return advert.AH{}, p.Payload, ""
	}
	ah, msg, err := advert.ParseAH(p.Payload)
	if errors.Is(err, advert.ErrNotVRRP) {
		return ah, nil, reasonNotVRRP
	}
	if err != nil {
		if r := advert.ReasonOf(err); r != "" {
			return ah, nil, r
		}
		return ah, nil, advert.ReasonTruncated
	}
	return ah, msg, ""
}

// authenticate checks an advert for this virtual router against the instance's
// authentication, as keepalived's vrrp_check_packet does, and logs a refusal (at most
// once a second: a peer with another password sends one every interval).
func (r *runner) authenticate(p Packet, a advert.Advert, ah advert.AH) advert.Reason {
	want := r.in.cfg.Auth
	if a.Version != 2 {
		return "" // v3 has none; a v2 instance never gets this far with a v3 advert
	}
	var detail string
	switch {
	case p.AH && want.Type != advert.AuthAH:
		detail = fmt.Sprintf("the advert is IPsec AH authenticated; this instance's authentication is %s", want.Type)
	case !p.AH && want.Type == advert.AuthAH:
		detail = fmt.Sprintf("the advert is not IPsec AH authenticated (auth type %s); this instance's authentication is ah", a.Auth)
	case a.Auth != want.Type:
		detail = fmt.Sprintf("the advert's authentication is %s; this instance's is %s", a.Auth, want.Type)
	case want.Type == advert.AuthPass && !a.AuthData.Equal(want.Key):
		detail = "wrong password"
	case want.Type == advert.AuthAH:
		if err := advert.VerifyAH(p.Payload, want.Key, len(r.in.cfg.UnicastPeers) > 0); err != nil {
			detail = err.Error()
		} else if ah.Seq <= r.auth.seq {
			detail = fmt.Sprintf("AH sequence number %d is not above %d, the highest seen: a replay", ah.Seq, r.auth.seq)
		} else {
			r.auth.seq = ah.Seq
		}
	}
	if detail == "" {
		return ""
	}
	if ok, suppressed := r.auth.log.allow(r.in.clock.Now()); ok {
		r.in.log.Warn("dropped VRRP advert: authentication", "src", p.Src, "detail", detail, "suppressed", suppressed)
	}
	return advert.ReasonAuthentication
}

// logLimit lets one message through a second and counts the ones it holds back.
type logLimit struct {
	last       time.Time
	suppressed int
}

// allow reports whether to log at now, and how many were held back since the last one.
func (l *logLimit) allow(now time.Time) (bool, int) {
	if !l.last.IsZero() && now.Sub(l.last) < time.Second {
		l.suppressed++
		return false, 0
	}
	n := l.suppressed
	l.last, l.suppressed = now, 0
	return true, n
}
