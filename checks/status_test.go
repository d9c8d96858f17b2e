package checks

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseStatusSet(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in      []string
		want    StatusSet
		wantErr bool
	}{
		{in: []string{"200"}, want: StatusSet{{200, 200}}},
		{in: []string{"200-299"}, want: StatusSet{{200, 299}}},
		{in: []string{"200,204, 301-302"}, want: StatusSet{{200, 200}, {204, 204}, {301, 302}}},
		{in: []string{"200", "404"}, want: StatusSet{{200, 200}, {404, 404}}},
		{in: []string{"299-200"}, wantErr: true},
		{in: []string{"99"}, wantErr: true},
		{in: []string{"600"}, wantErr: true},
		{in: []string{"abc"}, wantErr: true},
		{in: []string{"200,"}, wantErr: true},
		{in: nil, wantErr: true},
	} {
		got, err := ParseStatusSet(tc.in...)
		if (err != nil) != tc.wantErr {
			t.Errorf("ParseStatusSet(%q) error = %v, want error %v", tc.in, err, tc.wantErr)
			continue
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("ParseStatusSet(%q) (-want +got):\n%s", tc.in, diff)
		}
	}
}

func TestStatusSetContains(t *testing.T) {
	t.Parallel()
	set, err := ParseStatusSet("200-299,301,404")
	if err != nil {
		t.Fatal(err)
	}
	for code, want := range map[int]bool{199: false, 200: true, 250: true, 299: true, 300: false, 301: true, 302: false, 404: true, 503: false} {
		if got := set.Contains(code); got != want {
			t.Errorf("%v.Contains(%d) = %v, want %v", set, code, got, want)
		}
	}
	if got, want := set.String(), "200-299,301,404"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}
