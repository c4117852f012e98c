-- PostgreSQL's `messages_queued` gains the id, the claim's last ordering key (see its 0017). An
-- SQLite index already ends in the rowid, which `id` is: nothing to change here.
SELECT 1;
