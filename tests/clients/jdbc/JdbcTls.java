import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;

/**
 * One Connector/J login through TLS (tests/tls.rs): prints "OK <@@port>" or
 * "ERR <code> <message>". Connector/J 2.7 has no sslMode; useSSL=true with
 * trustServerCertificate=true is its "encrypt, do not verify".
 */
public class JdbcTls {
    public static void main(String[] args) throws Exception {
        String url = "jdbc:mariadb://" + args[0] + "/test?user=" + args[1] + "&password=" + args[2] + args[3];
        try (Connection c = DriverManager.getConnection(url);
             Statement s = c.createStatement();
             ResultSet rs = s.executeQuery("SELECT @@port")) {
            rs.next();
            System.out.println("OK " + rs.getInt(1));
        } catch (SQLException e) {
            System.out.println("ERR " + e.getErrorCode() + " " + e.getMessage());
        }
    }
}
