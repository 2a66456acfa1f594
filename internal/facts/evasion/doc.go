// Package evasion holds the differential evasion suites of the argument
// classifiers: for each classifier, hundreds of attacks (many variants
// per class) and scary-but-benign inputs, checked against what a real
// executor does (bash in a sandbox, real files and symbolic links, URL
// parsers of curl, Node and Python, PostgreSQL) and against the decisions
// of the example policy pack in examples/policies. It has only tests.
package evasion
