package console

// Internals the tests reach.
var (
	SafeNext  = safeNext
	ParseWhen = parseWhen
	DiffLines = func(a, b string) int { return len(diffLines(a, b)) }
)
