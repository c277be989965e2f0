-- MariaDB read model: one database; the frontend may only SELECT in it (a
-- database-level grant also covers tables created later), the projector
-- may do anything in it and nothing elsewhere. Passwords are set apart
-- (ALTER USER … IDENTIFIED BY with a bound parameter), never in this text.
CREATE DATABASE IF NOT EXISTS {{mident .Database}} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;
CREATE USER IF NOT EXISTS {{mstr .Frontend}}@{{mstr .Host}};
CREATE USER IF NOT EXISTS {{mstr .Projector}}@{{mstr .Host}};
GRANT SELECT ON {{mident .Database}}.* TO {{mstr .Frontend}}@{{mstr .Host}};
GRANT ALL PRIVILEGES ON {{mident .Database}}.* TO {{mstr .Projector}}@{{mstr .Host}};
