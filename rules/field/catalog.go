package field

// Helpers that keep the catalogs one line per field.

func str(name, desc string) Field     { return Field{Name: name, Type: String, Desc: desc} }
func i64(name, desc string) Field     { return Field{Name: name, Type: Int64, Desc: desc} }
func u64(name, desc string) Field     { return Field{Name: name, Type: Uint64, Desc: desc} }
func boolean(name, desc string) Field { return Field{Name: name, Type: Bool, Desc: desc} }
func ip(name, desc string) Field      { return Field{Name: name, Type: IPAddr, Desc: desc} }
func ipnet(name, desc string) Field   { return Field{Name: name, Type: IPNet, Desc: desc} }
func port(name, desc string) Field    { return Field{Name: name, Type: Port, Desc: desc} }
func abs(name, desc string) Field     { return Field{Name: name, Type: AbsTime, Desc: desc} }
func rel(name, desc string) Field     { return Field{Name: name, Type: RelTime, Desc: desc} }

// withArg returns f taking an argument of the given mode.
func withArg(f Field, m ArgMode, required bool) Field {
	f.Arg, f.ArgReq = m, required
	return f
}

// list returns f as a list field, optionally indexable ([N] picks one
// element, as the k8saudit plugin allows).
func list(f Field) Field {
	f.List = true
	if f.Arg == NoArg {
		f.Arg = IndexArg
	}
	return f
}
