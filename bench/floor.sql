\set n random(1, 1000)
INSERT INTO bench_floor (fingerprint, occurrences, last_seen_at) VALUES ('host-' || :n, 1, now()) ON CONFLICT (fingerprint) DO UPDATE SET occurrences = bench_floor.occurrences + 1, last_seen_at = now();
