<?php
// Managed by mailctl (cluster {{ cluster.name }}): creates Roundcube's tables in the shared
// webmail database, or brings them up to this Roundcube's version. Run by deploy on each
// webmail host; a lock in the database keeps two hosts from doing it at once.
define('INSTALL_PATH', '/var/lib/roundcube/');
require_once INSTALL_PATH . 'program/include/clisetup.php';

$db = rcmail_utils::db();
if (!$db->is_connected()) {
    fwrite(STDERR, "cannot reach the webmail database: " . $db->is_error() . "\n");
    exit(1);
}
$db->query('SELECT pg_advisory_lock(7417)');
$found = $db->query("SELECT 1 FROM information_schema.tables WHERE table_name = 'system'");
if (!$db->fetch_array($found)) {
    rcmail_utils::db_init(INSTALL_PATH . 'SQL');
}
rcmail_utils::db_update(INSTALL_PATH . 'SQL', 'roundcube', null, ['errors' => true]);
$db->query('SELECT pg_advisory_unlock(7417)');
