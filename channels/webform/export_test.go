package webform

// SourceKey exposes sourceKey to the external tests.
var SourceKey = sourceKey
