//! Integration tests live in all/; src/bin holds helper processes they start.
