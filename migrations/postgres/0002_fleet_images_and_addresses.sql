-- Image digests per instance: each lifeboat of a fleet has its own TFTP root, and the dashboard
-- shows which instances hold each image and whether their copies match.
ALTER TABLE images ADD COLUMN instance TEXT NOT NULL DEFAULT '';
ALTER TABLE images DROP CONSTRAINT images_pkey;
ALTER TABLE images ADD PRIMARY KEY (instance, file);

-- The IPv4 addresses of each instance's machine, space-separated: a DHCP server answering from
-- one of them is a partner of the fleet, not a rogue server.
ALTER TABLE instances ADD COLUMN addresses TEXT NOT NULL DEFAULT '';
