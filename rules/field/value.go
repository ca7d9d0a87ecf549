package field

import (
	"strconv"
)

// AppendValue appends the field's value as Falco prints it in an output
// line: strings and byte buffers raw, numbers in decimal, booleans as
// true/false, addresses in their usual text form, networks as addr/bits,
// Mode via its Format extractor when there is one, and lists as
// "(a,b,c)" as libsinsp's tostring does. The bool is false when the value
// is missing (the caller prints <NA>).
func (f *Field) AppendValue(dst []byte, ev Event, a Arg) ([]byte, bool) {
	x := &f.Extract
	if f.List {
		if x.Strings == nil {
			return dst, false
		}
		vs, ok := x.Strings(ev, a, nil)
		if !ok {
			return dst, false
		}
		dst = append(dst, '(')
		for i, v := range vs {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, v...)
		}
		return append(dst, ')'), true
	}
	switch f.Type {
	case String:
		if x.String != nil {
			if v, ok := x.String(ev, a); ok {
				return append(dst, v...), true
			}
		}
	case Int64, AbsTime, RelTime:
		if x.Int != nil {
			if v, ok := x.Int(ev, a); ok {
				return strconv.AppendInt(dst, v, 10), true
			}
		}
	case Mode:
		if x.Format != nil {
			if v, ok := x.Format(ev, a); ok {
				return append(dst, v...), true
			}
		}
		fallthrough
	case Uint64, Port:
		if x.Uint != nil {
			if v, ok := x.Uint(ev, a); ok {
				return strconv.AppendUint(dst, v, 10), true
			}
		}
	case Bool:
		if x.Bool != nil {
			if v, ok := x.Bool(ev, a); ok {
				return strconv.AppendBool(dst, v), true
			}
		}
	case IPAddr, IPNet:
		if x.IP != nil {
			if v, bits, ok := x.IP(ev, a); ok {
				dst = v.AppendTo(dst)
				if f.Type == IPNet && bits >= 0 {
					dst = append(dst, '/')
					dst = strconv.AppendInt(dst, int64(bits), 10)
				}
				return dst, true
			}
		}
	case Bytes:
		if x.Bytes != nil {
			if v, ok := x.Bytes(ev, a); ok {
				return append(dst, v...), true
			}
		}
	}
	return dst, false
}

// Value returns the field's value typed for a JSON output_fields map:
// string, int64 (signed numbers and times), uint64 (unsigned numbers,
// ports, modes), bool, string for addresses and networks and byte buffers,
// []string for lists. It allocates; it is meant for alerts, not for every
// event.
func (f *Field) Value(ev Event, a Arg) (any, bool) {
	x := &f.Extract
	if f.List {
		if x.Strings == nil {
			return nil, false
		}
		vs, ok := x.Strings(ev, a, nil)
		if !ok {
			return nil, false
		}
		return vs, true
	}
	switch f.Type {
	case String:
		if x.String != nil {
			if v, ok := x.String(ev, a); ok {
				return v, true
			}
		}
	case Int64, AbsTime, RelTime:
		if x.Int != nil {
			if v, ok := x.Int(ev, a); ok {
				return v, true
			}
		}
	case Uint64, Port, Mode:
		if x.Uint != nil {
			if v, ok := x.Uint(ev, a); ok {
				return v, true
			}
		}
	case Bool:
		if x.Bool != nil {
			if v, ok := x.Bool(ev, a); ok {
				return v, true
			}
		}
	case IPAddr, IPNet, Bytes:
		b, ok := f.AppendValue(nil, ev, a)
		if ok {
			return string(b), true
		}
	}
	return nil, false
}
