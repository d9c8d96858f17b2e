package director

import (
	"github.com/vigil-lb/vigil/conf"
	"github.com/vigil-lb/vigil/vrrp"
	"github.com/vigil-lb/vigil/vrrp/advert"
)

// vrrpAuth translates an authentication block. conf has checked the password; were it
// refused here anyway, the key stays empty and the instance refuses to start, saying so.
func vrrpAuth(a *conf.Authentication) vrrp.Auth {
	if a == nil {
		return vrrp.Auth{}
	}
	out := vrrp.Auth{Type: advert.AuthPass}
	if a.Type == conf.AuthAH {
		out.Type = advert.AuthAH
	}
	if k, err := advert.NewKey(a.Password.Reveal()); err == nil {
		out.Key = k
	}
	return out
}
