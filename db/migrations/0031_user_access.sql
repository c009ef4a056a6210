-- Access (issue 11): with ACCESS=approval a new user waits until an admin approves them;
-- an admin can block a user. 'active' for everyone before this (ACCESS=open changes nothing).
ALTER TABLE users ADD COLUMN access TEXT NOT NULL DEFAULT 'active';
