package outputs

import (
	"net/url"
	"sort"
	"strings"
)

// Parts lists the pieces of the URL that error text must not show, longest
// first so that Scrub never redacts a piece before the whole: the URL itself,
// its path and query, each query value, each path segment after the first
// (webhook tokens are trailing segments, as in Slack's
// /services/T000/B000/XXXX), and the password. Destinations and HTTP clients
// may echo any of these on their own.
func (u SecretURL) Parts() []string {
	raw := string(u)
	s := []string{raw}
	p, err := url.Parse(raw)
	if err != nil {
		return s
	}
	if p.Path != "" && p.Path != "/" {
		s = append(s, p.RequestURI(), p.EscapedPath())
		segs := strings.Split(strings.Trim(p.EscapedPath(), "/"), "/")
		if len(segs) > 1 {
			s = append(s, segs[1:]...)
		}
	}
	if p.RawQuery != "" {
		s = append(s, p.RawQuery)
		for _, vs := range p.Query() {
			s = append(s, vs...)
		}
	}
	if pw, ok := p.User.Password(); ok {
		s = append(s, pw)
	}
	sort.Slice(s, func(i, j int) bool { return len(s[i]) > len(s[j]) })
	return s
}
