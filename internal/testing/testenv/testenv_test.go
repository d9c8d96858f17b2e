package testenv

import "testing"

func TestInCI(t *testing.T) {
	for _, tc := range []struct {
		val  string
		want bool
	}{{"true", true}, {"TRUE", true}, {"1", true}, {"", false}, {"false", false}} {
		t.Setenv("CI", tc.val)
		if got := InCI(); got != tc.want {
			t.Errorf("CI=%q: InCI() = %v, want %v", tc.val, got, tc.want)
		}
	}
}

func TestPrivateState(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"global {\n  listen = \"x\"\n}\n", "global {\n  control_socket = \"/d/vigil.sock\"\n  state_dir      = \"/d/state\"\n  listen = \"x\"\n}\n"},
		{"virtual_server \"a\" {}\n", "global {\n  control_socket = \"/d/vigil.sock\"\n  state_dir      = \"/d/state\"\n}\nvirtual_server \"a\" {}\n"},
		{"global {\n  state_dir = \"\"\n}\n", "global {\n  state_dir = \"\"\n}\n"},
	} {
		if got := PrivateState(tc.in, "/d"); got != tc.want {
			t.Errorf("PrivateState(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
