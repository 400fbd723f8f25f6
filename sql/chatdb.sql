-- gochat schema for MySQL / MariaDB (utf8mb4 throughout, so Chinese and emoji round-trip).
--
-- The seed's tables users, rooms and messages keep gorm.Model's columns (id, created_at,
-- updated_at, deleted_at) and their own; gochat adds case-folded key columns for
-- case-insensitive uniqueness, the username's look-alike skeleton, clientMsgId for retry de-duplication, a sessions table, read
-- markers (how far each user has read in each room) and database_info (the database's own
-- random id, which namespaces the Redis cache).
-- users.password holds only an argon2id hash, never a password.
--
-- The server creates these tables itself on first start, and on every start adds any index
-- a newer version defined to tables made by an older one; this file is for DBAs who create
-- them by hand. tests/server/test_schema.py loads it into MariaDB and checks it matches
-- gochat/server/store/models.py.

CREATE TABLE IF NOT EXISTS users (
    id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    created_at DATETIME(6) NOT NULL,
    updated_at DATETIME(6) NOT NULL,
    deleted_at DATETIME(6) NULL,
    username VARCHAR(32) NOT NULL,
    password VARCHAR(255) NOT NULL,
    username_key VARCHAR(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    -- What the name looks like (UTS #39 skeleton): no two accounts are look-alikes. NULL only for
    -- an account older than the column that looks like an earlier one (docs/security.md).
    username_skeleton VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL,
    PRIMARY KEY (id),
    CONSTRAINT uq_users_username_key UNIQUE (username_key),
    CONSTRAINT uq_users_username_skeleton UNIQUE (username_skeleton),
    INDEX idx_users_deleted_at (deleted_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS rooms (
    id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    created_at DATETIME(6) NOT NULL,
    updated_at DATETIME(6) NOT NULL,
    deleted_at DATETIME(6) NULL,
    user_id BIGINT UNSIGNED NOT NULL,
    room_name VARCHAR(64) NOT NULL,
    room_name_key VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    -- 'public', or 'direct': a conversation of two users, its members in direct_rooms.
    kind VARCHAR(16) NOT NULL DEFAULT 'public',
    PRIMARY KEY (id),
    CONSTRAINT uq_rooms_room_name_key UNIQUE (room_name_key),
    INDEX idx_rooms_deleted_at (deleted_at),
    -- The room list by name ("deleted_at IS NULL ORDER BY room_name_key, id LIMIT n") reads this in order.
    INDEX idx_rooms_deleted_at_room_name_key (deleted_at, room_name_key),
    CONSTRAINT fk_rooms_user FOREIGN KEY (user_id) REFERENCES users (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- A direct room's two members, the lower user id first; the unique pair means one room per two
-- users, however many ask at once.
CREATE TABLE IF NOT EXISTS direct_rooms (
    room_id BIGINT UNSIGNED NOT NULL,
    user_low_id BIGINT UNSIGNED NOT NULL,
    user_high_id BIGINT UNSIGNED NOT NULL,
    PRIMARY KEY (room_id),
    CONSTRAINT uq_direct_rooms_users UNIQUE (user_low_id, user_high_id),
    INDEX idx_direct_rooms_user_high_id (user_high_id),
    CONSTRAINT fk_direct_rooms_room FOREIGN KEY (room_id) REFERENCES rooms (id),
    CONSTRAINT fk_direct_rooms_user_low FOREIGN KEY (user_low_id) REFERENCES users (id),
    CONSTRAINT fk_direct_rooms_user_high FOREIGN KEY (user_high_id) REFERENCES users (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS sessions (
    token_hash VARCHAR(64) NOT NULL,
    user_id BIGINT UNSIGNED NOT NULL,
    created_at DATETIME(6) NOT NULL,
    last_used_at DATETIME(6) NOT NULL,
    PRIMARY KEY (token_hash),
    INDEX idx_sessions_user_id (user_id),
    INDEX idx_sessions_last_used_at (last_used_at),
    CONSTRAINT fk_sessions_user FOREIGN KEY (user_id) REFERENCES users (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS messages (
    id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    created_at DATETIME(6) NOT NULL,
    updated_at DATETIME(6) NOT NULL,
    deleted_at DATETIME(6) NULL,
    user_id BIGINT UNSIGNED NOT NULL,
    room_id BIGINT UNSIGNED NOT NULL,
    content TEXT NOT NULL,
    client_msg_id VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL,
    -- From sequences 'rev': taken when stored and again at each edit or deletion. A deleted
    -- message is a tombstone: deleted_at set, content '', mentions NULL.
    rev BIGINT NOT NULL DEFAULT 0,
    edited_at DATETIME(6) NULL,
    -- The users mentioned, JSON [{"id": 1, "username": "bob"}]; NULL when none.
    mentions TEXT NULL,
    -- Who deleted it (a tombstone); NULL otherwise.
    deleted_by BIGINT UNSIGNED NULL,
    PRIMARY KEY (id),
    -- History pages ("room = ? AND id < ? ORDER BY id DESC LIMIT n") are answered from this index.
    INDEX idx_messages_room_id_id (room_id, id),
    INDEX idx_messages_deleted_at (deleted_at),
    -- Catching up on edits and deletions ("room = ? AND rev > ?").
    INDEX idx_messages_room_id_rev (room_id, rev),
    -- Servers sharing the database catching up on every room at once ("rev > ?").
    INDEX idx_messages_rev (rev),
    CONSTRAINT uq_messages_user_client_msg_id UNIQUE (user_id, client_msg_id),
    CONSTRAINT fk_messages_user FOREIGN KEY (user_id) REFERENCES users (id),
    CONSTRAINT fk_messages_room FOREIGN KEY (room_id) REFERENCES rooms (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS read_markers (
    user_id BIGINT UNSIGNED NOT NULL,
    room_id BIGINT UNSIGNED NOT NULL,
    last_read_id BIGINT UNSIGNED NOT NULL,
    updated_at DATETIME(6) NOT NULL,
    PRIMARY KEY (user_id, room_id),
    INDEX idx_read_markers_room_id (room_id),
    CONSTRAINT fk_read_markers_user FOREIGN KEY (user_id) REFERENCES users (id),
    CONSTRAINT fk_read_markers_room FOREIGN KEY (room_id) REFERENCES rooms (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- One row, name 'database_id': a random id made when the schema is first created. Servers use
-- it in every Redis key, so servers on different databases can share one Redis safely. The
-- server inserts it on first start; a DBA creating the tables by hand may leave it out.
CREATE TABLE IF NOT EXISTS database_info (
    name VARCHAR(64) NOT NULL,
    value VARCHAR(255) NOT NULL,
    PRIMARY KEY (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Counters shared by every server on the database: 'rev' orders stored messages, edits and
-- deletions. The server inserts its row on first start.
CREATE TABLE IF NOT EXISTS sequences (
    name VARCHAR(64) NOT NULL,
    value BIGINT NOT NULL,
    PRIMARY KEY (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
