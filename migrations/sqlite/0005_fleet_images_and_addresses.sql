-- Image digests per instance. A SQLite database belongs to one lifeboat, so its rows keep the
-- empty instance; the column and the index let one query text serve both engines.
ALTER TABLE images ADD COLUMN instance TEXT NOT NULL DEFAULT '';
CREATE UNIQUE INDEX images_by_instance ON images (instance, file);

-- The IPv4 addresses of each instance's machine, space-separated: a DHCP server answering from
-- one of them is a partner of the fleet, not a rogue server.
ALTER TABLE instances ADD COLUMN addresses TEXT NOT NULL DEFAULT '';
