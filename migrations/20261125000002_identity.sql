-- Sign-in with X, sessions, protected accounts, and who generated what (ranking).

-- X's numeric user id (as text, as X's API returns it). NULL for the demo users,
-- who are trained by the server itself and have no X account.
ALTER TABLE users ADD COLUMN x_user_id text UNIQUE;
-- Mirrors the X account's "protected" flag, refreshed at every sign-in: only the
-- owner may generate from a protected account's model.
ALTER TABLE users ADD COLUMN protected boolean NOT NULL DEFAULT false;

-- Database-backed sessions, so that any instance behind the load balancer knows
-- the visitor. Only a SHA-256 of the cookie's token is stored: a leaked table
-- (or backup) cannot be replayed as cookies.
CREATE TABLE sessions (
    token_hash bytea PRIMARY KEY,
    user_id    bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);
CREATE INDEX sessions_user_id_idx ON sessions (user_id);
CREATE INDEX sessions_expires_at_idx ON sessions (expires_at);

-- A sign-in in progress: the OAuth `state` (hashed) and the PKCE verifier, kept
-- between the redirect to X and the callback, which may reach another instance.
CREATE TABLE oauth_logins (
    state_hash    bytea PRIMARY KEY,
    pkce_verifier text NOT NULL,
    -- Where to send the browser once signed in (a local path).
    return_to     text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);

-- The signed-in user who asked for a generation (NULL: a visitor), so that the
-- ranking can leave out people generating from their own model.
ALTER TABLE generations ADD COLUMN generated_by bigint REFERENCES users (id) ON DELETE SET NULL;
CREATE INDEX generations_generated_by_idx ON generations (generated_by);
